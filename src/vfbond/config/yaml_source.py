"""The YAML layer: parse the text safely and map each dotted field path to its line.

Hostile input stays a short ConfigError: nesting is bounded before PyYAML's recursive composer
sees it, and aliases are walked once, never expanded.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import yaml

from vfbond.config.problems import ConfigError, Problem

MERGE_TAG = "tag:yaml.org,2002:merge"
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


class _HugeNumber(yaml.constructor.ConstructorError):
    pass


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that records each key given twice in one mapping: PyYAML keeps the last
    silently (`miimon: 100` ... `miimon: 5000` would be 5000). A merge (`<<: *base`) may still
    override what it merges: only the mapping's own keys are compared."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.twice: list[tuple[yaml.MappingNode, str, int, int]] = []  # mapping, key, first line, second line

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != MERGE_TAG:
                key, line = self.construct_object(key_node), key_node.start_mark.line + 1
                if key in first:
                    self.twice.append((node, str(key), first[key], line))
                first.setdefault(key, line)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # past Python's int-from-string limit (4300 digits): no field takes it anyway
            raise _HugeNumber(None, None, f"a number of {len(node.value)} digits", node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _line_map(root: yaml.Node) -> tuple[dict[str, int], dict[int, str]]:
    """Dotted field path -> 1-based line, from the YAML node tree (values, not just keys); and each
    node's path by id."""
    lines: dict[str, int] = {}
    paths: dict[int, str] = {}  # an alias is its anchored node again: descend once, or aliases multiply paths

    def walk(node: yaml.Node, path: str) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in paths:
            return
        paths[id(node)] = path
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{path}[{i}]")

    walk(root, "")
    return lines, paths


def _yaml_problem(exc: yaml.YAMLError, text: str, file: str) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError):  # a control character: binary, not a YAML text
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return Problem(file, line, "<file>", f"not a text file: it holds the control character U+{code:04X}",
                       "give the vfbond YAML file (check the path), or remove the character")
    mark = getattr(exc, "problem_mark", None)
    what = " ".join(str(getattr(exc, "problem", None) or exc).split())
    fix = "use a number in the field's range (README's config table)" if isinstance(exc, _HugeNumber) \
        else "fix the YAML syntax (indentation, a missing colon or quote)"
    return Problem(file, mark.line + 1 if mark else None, "<yaml>", what, fix)


@dataclass(frozen=True)
class Document:
    data: Any
    lines: dict[str, int]  # dotted field path -> 1-based line
    problems: list[Problem]  # what the YAML layer found (keys given twice); the readers add the rest


def read(text: str, file: str) -> Document:
    """The document's data, its line map and the keys given twice; a YAML error is a ConfigError."""
    loader: _Loader | None = None
    try:
        if line := _too_deep(text):
            raise ConfigError([Problem(file, line, "<yaml>", f"nested more than {MAX_DEPTH} levels deep",
                                       "check the brackets and indentation: vfbond's config nests 5 levels")])
        loader = _Loader(text)
        root = loader.get_single_node()
        if root is None:
            return Document(None, {}, [])
        lines, paths = _line_map(root)  # before constructing: a merge rewrites its mapping's node
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(exc, text, file)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    twice = [Problem(file, second, f"{paths[id(node)]}.{key}".lstrip("."),
                     f"given twice, at lines {first} and {second}; YAML would keep only the last",
                     "remove one of them") for node, key, first, second in loader.twice]
    return Document(data, lines, twice)
