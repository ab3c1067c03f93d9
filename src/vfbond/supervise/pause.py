"""Maintenance: the operator says "hands off" before changing the bond by hand.

Kept in the state directory, so a vfbondd restarted in the middle of the work does not undo it.
An expiry ends it by itself: a forgotten pause must not leave the bond unreconciled for good.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from vfbond.shared.status import PauseDict

log = logging.getLogger("vfbond")


@dataclass(frozen=True)
class Pause:
    reason: str
    since: float  # time.time()
    until: float | None  # None: until `bondctl resume`

    def expired(self, now: float) -> bool:
        return self.until is not None and now >= self.until

    def to_dict(self) -> PauseDict:
        return {"reason": self.reason, "since": self.since, "until": self.until}


class PauseFile:
    """The pause on disk: written atomically, read once at start."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Pause | None:
        try:
            data = json.loads(self.path.read_text())
            return Pause(str(data["reason"]), float(data["since"]),
                         None if data.get("until") is None else float(data["until"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring %s, which does not hold a pause: %s", self.path, exc)
            return None

    def save(self, pause: Pause | None) -> None:
        if pause is None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(pause.to_dict()))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tmp.replace(self.path)


def make_pause(reason: str, seconds: float | None, now: float | None = None) -> Pause:
    start = time.time() if now is None else now
    return Pause(reason, start, None if seconds is None else start + seconds)
