"""The YAML layer: parse the text safely and map each dotted field path to its line.

Hostile input stays a short ConfigError: nesting is bounded before PyYAML's recursive composer
sees it, and aliases are walked once, never expanded.
"""

from __future__ import annotations

from typing import Any

import yaml

from vfbond.config.problems import ConfigError, Problem

MAX_DEPTH = 32  # a vfbond config nests 5 deep; PyYAML's composer recurses, and a deeper file could exhaust the stack


def _too_deep(text: str) -> int | None:
    """The line where the YAML nests deeper than MAX_DEPTH, found with the (iterative) event parser."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return event.start_mark.line + 1 if event.start_mark else 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def _line_map(text: str) -> dict[str, int]:
    """Dotted field path -> 1-based line, from the YAML node tree (values, not just keys)."""
    lines: dict[str, int] = {}
    walked: set[int] = set()  # an alias is its anchored node again: descend once, or aliases multiply paths

    def walk(node: yaml.Node, path: str) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in walked:
            return
        walked.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{path}[{i}]")

    root = yaml.compose(text)
    if root is not None:
        walk(root, "")
    return lines


def _yaml_problem(exc: yaml.YAMLError, text: str, file: str) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError):  # a control character: binary, not a YAML text
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return Problem(file, line, "<file>", f"not a text file: it holds the control character U+{code:04X}",
                       "give the vfbond YAML file (check the path), or remove the character")
    mark = getattr(exc, "problem_mark", None)
    what = " ".join(str(getattr(exc, "problem", None) or exc).split())
    return Problem(file, mark.line + 1 if mark else None, "<yaml>", what,
                   "fix the YAML syntax (indentation, a missing colon or quote)")


def read(text: str, file: str) -> tuple[Any, dict[str, int]]:
    """The document's data and its line map; any YAML problem is a ConfigError."""
    try:
        if line := _too_deep(text):
            raise ConfigError([Problem(file, line, "<yaml>", f"nested more than {MAX_DEPTH} levels deep",
                                       "check the brackets and indentation: vfbond's config nests 5 levels")])
        lines = _line_map(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(exc, text, file)]) from None
    return raw, lines
