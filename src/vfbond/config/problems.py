"""A config problem, reported as `file:line: field: what is wrong. Fix: how`, the error that carries them, and
the warning for a valid config that will not work as meant."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}. Fix: {self.fix}"


@dataclass(frozen=True)
class Misfit:
    """A valid config that will not work as meant on this host: a warning, with its fix."""

    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}. Fix: {self.fix}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
