"""Typed access to the raw YAML mapping that records problems instead of raising."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vfbond import redact
from vfbond.config.problems import Problem


class Reader:
    """Typed access to the raw mapping that records problems instead of raising."""

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

    def section(self, raw: Any, path: str, known: tuple[str, ...]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(path, f"expected a mapping, got {type(raw).__name__}",
                         f"write {path or 'the file'} as key: value lines")
            return {}
        for key in raw:
            if key not in known:
                self.problem(f"{path}.{key}" if path else str(key), "unknown field",
                             f"remove it or use one of: {', '.join(known)}")
        return raw

    def items(self, raw: Any, path: str, fix: str) -> list[Any]:
        """A YAML list (absent or null: empty); anything else is a problem, never iterated."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(path, f"expected a list, got {type(raw).__name__}", fix)
            return []
        return raw

    def get(self, raw: dict[str, Any], path: str, key: str, kind: type, default: Any,
            check: Callable[[Any], str | None] | None = None, fix: str = "") -> Any:
        full = f"{path}.{key}" if path else key
        if check is not None and not fix:
            raise TypeError(f"{full}: a value check needs its fix")  # a programming error; every test finds it
        if key not in raw or raw[key] is None:
            return default
        value = raw[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.problem(full, f"expected {kind.__name__}, got {redact.shown(full, value)}",
                         fix or f"give {key} a {kind.__name__}" + (" (quote it)" if kind is str else ""))
            return default
        if check is not None and (why := check(value)):
            self.problem(full, why, fix)
            return default
        return value

    def choice(self, raw: dict[str, Any], path: str, key: str, choices: tuple[str, ...], default: str,
               fix: str | None = None, numeric: bool = False) -> str:
        def check(v: str) -> str | None:
            return None if v in choices else f"{v!r} is not one of {', '.join(choices)}"
        # `fail_over_mac: 1` is the seed's (and sysfs's) spelling: with numeric, the numbers map onto the names.
        value = raw.get(key)
        if numeric and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(choices):
            return choices[value]
        return self.get(raw, path, key, str, default, check, fix or f"set {key} to one of {', '.join(choices)}")
