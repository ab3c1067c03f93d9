"""Typed access to the raw YAML mapping that records problems instead of raising.

A `Section` reads one mapping against its dataclass: the keys it may hold and every default come
from the dataclass's fields, so a default is written once, in `schema`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from vfbond import redact
from vfbond.config.problems import Problem

FIELD: Any = object()  # as a default: the dataclass field's own


def default(schema: type[Any], key: str) -> Any:
    """The default of `schema`'s field `key`; None for a field the reader must fill (a slave's label)."""
    for f in dataclasses.fields(schema):
        if f.name == key:
            return None if f.default is dataclasses.MISSING else f.default
    raise KeyError(f"{schema.__name__} has no field {key}")  # a programming error; every test finds it


def keys(schema: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(schema))


class Reader:
    """The problems found so far, each placed on its line."""

    def __init__(self, file: str, lines: dict[str, int], host_checks: bool) -> None:
        self.file = file
        self.lines = lines
        self.host_checks = host_checks
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str, fix: str) -> None:
        line = self.lines.get(path)
        probe = path
        while line is None and "." in probe:  # fall back to the nearest parent that exists
            probe = probe.rsplit(".", 1)[0]
            line = self.lines.get(probe)
        if line is None:  # a missing top-level section: the document's start
            line = self.lines.get("", 1)
        self.problems.append(Problem(self.file, line, path or "<top>", message, fix))

    def section(self, raw: Any, path: str, schema: type[Any], known: tuple[str, ...] | None = None) -> Section:
        """`raw` as the mapping of `schema`'s fields (or `known`, where the YAML spelling differs)."""
        known = keys(schema) if known is None else known
        if raw is None:
            return Section(self, {}, path, schema)
        if not isinstance(raw, dict):
            self.problem(path, f"expected a mapping, got {type(raw).__name__}",
                         f"write {path or 'the file'} as key: value lines")
            return Section(self, {}, path, schema)
        for key in raw:
            if key not in known:
                self.problem(f"{path}.{key}" if path else str(key), "unknown field",
                             f"remove it or use one of: {', '.join(known)}")
        return Section(self, raw, path, schema)

    def items(self, raw: Any, path: str, fix: str) -> list[Any]:
        """A YAML list (absent or null: empty); anything else is a problem, never iterated."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(path, f"expected a list, got {type(raw).__name__}", fix)
            return []
        return raw


@dataclasses.dataclass(frozen=True)
class Section:
    r: Reader
    raw: dict[str, Any]
    path: str
    schema: type[Any]

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def default(self, key: str) -> Any:
        return default(self.schema, key)

    def get(self, key: str, kind: type, check: Callable[[Any], str | None] | None = None, fix: str = "", *,
            default: Any = FIELD) -> Any:
        """The value of `key` if it has the right kind and passes `check`, else (and if absent) the default.

        `{default}` in `fix` is replaced by the default, so a fix text never repeats it."""
        full = self.at(key)
        if default is FIELD:
            default = self.default(key)
        fix = fix.replace("{default}", str(default))
        if check is not None and not fix:
            raise TypeError(f"{full}: a value check needs its fix")  # a programming error; every test finds it
        if key not in self.raw or self.raw[key] is None:
            return default
        value = self.raw[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.r.problem(full, f"expected {kind.__name__}, got {redact.shown(full, value)}",
                           fix or f"give {key} a {kind.__name__}" + (" (quote it)" if kind is str else ""))
            return default
        if check is not None and (why := check(value)):
            self.r.problem(full, why, fix)
            return default
        return value

    def choice(self, key: str, choices: tuple[str, ...], fix: str | None = None, numeric: bool = False, *,
               default: Any = FIELD) -> str:
        def check(v: str) -> str | None:
            return None if v in choices else f"{v!r} is not one of {', '.join(choices)}"
        # `fail_over_mac: 1` is the seed's (and sysfs's) spelling: with numeric, the numbers map onto the names.
        value = self.raw.get(key)
        if numeric and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(choices):
            return choices[value]
        return self.get(key, str, check, fix or f"set {key} to one of {', '.join(choices)}", default=default)
