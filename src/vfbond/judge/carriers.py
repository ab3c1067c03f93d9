"""When each slave's carrier last came up or went down: what updelay and downdelay are judged by.

Pure: times in, sets of names out. News about a link is taken only when it is newer than what is
already known, so a read of the bond that began before a carrier event cannot undo it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

NEVER = float("-inf")  # "up since before we looked": settled


class Carriers:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._up_since: dict[str, float] = {}
        self._down_since: dict[str, float] = {}
        self._news: dict[str, float] = {}  # name -> time of the newest news taken

    def note(self, name: str, up: bool, at: float) -> None:
        if at < self._news.get(name, NEVER):
            return
        self._news[name] = at
        if up:
            self._down_since.pop(name, None)
            self._up_since.setdefault(name, at)
        else:
            self._up_since.pop(name, None)
            self._down_since.setdefault(name, at)

    def is_up(self, name: str) -> bool:
        return name in self._up_since

    def settling(self, updelay: float) -> dict[str, float]:
        """Slaves up for less than `updelay` seconds, and when each will have settled."""
        now = self._clock()
        return {name: since + updelay for name, since in self._up_since.items() if now - since < updelay}

    def holding_down(self, downdelay: float, in_service: Iterable[str]) -> frozenset[str]:
        """Slaves down for less than `downdelay` seconds that the kernel still keeps in service."""
        now = self._clock()
        return frozenset(name for name in in_service
                         if name in self._down_since and now - self._down_since[name] < downdelay)
