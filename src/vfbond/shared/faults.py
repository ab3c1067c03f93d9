"""Faults vfbondd survived: each is logged, counted by kind for `bondctl status`, and supervision goes on."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from vfbond.shared.status import FaultEntry, FaultsStatus

log = logging.getLogger("vfbond")


class Faults:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.last: FaultEntry | None = None

    def record(self, kind: str, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.counts[kind] += 1
        self.last = {"kind": kind, "error": text, "time": time.time()}
        if isinstance(error, BaseException):
            log.error("%s failed (supervision goes on): %s", kind, text, exc_info=error)
        else:
            log.error("%s: %s", kind, text)

    @contextmanager
    def contained(self, kind: str) -> Iterator[None]:
        """Run a block whose failure must not end supervision: a bug or a kernel refusal is
        recorded, and the next event or resync starts from a fresh read."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - the point: nothing escapes the supervisor
            self.record(kind, exc)

    def snapshot(self) -> FaultsStatus:
        return {"total": sum(self.counts.values()), "by_kind": dict(self.counts), "last": self.last}
