"""When each slave's carrier last came up or went down: what updelay and downdelay are judged by.

Pure: times in, sets of names out. News about a link is taken only when it is newer than what is
already known, so a read of the bond that began before a carrier event cannot undo it.

Every link event is noted, whatever the interface (a VF is news before it is enslaved), but only the
bond's slaves are kept for good: on a host whose containers' veths come and go, the other names are
forgotten, oldest news first, beyond OTHERS_KEPT. A slave's updelay and downdelay never depend on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

NEVER = float("-inf")  # "up since before we looked": settled
OTHERS_KEPT = 64  # names that are not slaves of the bond


class Carriers:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._up_since: dict[str, float] = {}
        self._down_since: dict[str, float] = {}
        self._news: dict[str, float] = {}  # name -> time of the newest news taken
        self._slaves: frozenset[str] = frozenset()

    def slaves_are(self, names: Iterable[str]) -> None:
        """The bond's slaves, as the last read saw them: remembered whatever else comes and goes."""
        self._slaves = frozenset(names)
        self._bound()

    def note(self, name: str, up: bool, at: float) -> None:
        if at < self._news.get(name, NEVER):
            return
        new = name not in self._news
        self._news[name] = at
        if up:
            self._down_since.pop(name, None)
            self._up_since.setdefault(name, at)
        else:
            self._up_since.pop(name, None)
            self._down_since.setdefault(name, at)
        if new:
            self._bound()

    def _bound(self) -> None:
        others = sorted((at, name) for name, at in self._news.items() if name not in self._slaves)
        for _, name in others[:max(0, len(others) - OTHERS_KEPT)]:
            del self._news[name]
            self._up_since.pop(name, None)
            self._down_since.pop(name, None)

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
