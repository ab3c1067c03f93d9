"""Rate limiting of flapping links, so a bouncing VF does not flood operators with link traps.

Per slave, a window opens at its first slave_up/slave_down event; per bond, one opens at its first
failover/failback (a flapping active VF moves the bond each time). The first `limit` events of the
window pass; later ones are suppressed and counted. When the window closes, one FLAP_SUMMARY
event carries the counts and the state the link or bond was left in (the last suppressed event),
since the last event that passed may no longer be true. Other event types always pass.

Pure logic: the caller feeds events through `filter`, and calls `expire` when `next_expiry` is
reached so that a summary goes out even when the link has gone quiet.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from vfbond.shared.events import Event, EventType

LINK_EVENTS = (EventType.SLAVE_DOWN, EventType.SLAVE_UP)
# A flapping active VF moves the bond, its degraded/restored state and the check of each move
# (verify.py) each time: one window per bond.
# Isolation and the checks that found an error (the backup does not carry traffic, peers were not
# told) are never folded: they are the alerts that must reach a person as themselves.
BOND_EVENTS = (EventType.FAILOVER, EventType.FAILBACK, EventType.BOND_DEGRADED, EventType.BOND_RESTORED,
               EventType.FAILOVER_VERIFIED)


@dataclass
class _Window:
    start: float
    passed: int = 0
    suppressed: Counter[EventType] = field(default_factory=Counter)
    last: Event | None = None  # the last suppressed event


class FlapLimiter:
    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        # (bond, slave) -> its open window; slave None: the bond's failover/failback window
        self._windows: dict[tuple[str, str | None], _Window] = {}

    def filter(self, event: Event) -> list[Event]:
        """What to publish now for this event: summaries of windows that closed, then the event unless suppressed."""
        out = self.expire()
        if event.type in BOND_EVENTS:
            key: tuple[str, str | None] = (event.bond, None)
        elif event.type in LINK_EVENTS and event.slave:
            key = (event.bond, event.slave)
        else:
            return [*out, event]
        window = self._windows.setdefault(key, _Window(start=self._clock()))
        if window.passed < self.limit:
            window.passed += 1
            out.append(event)
        else:
            window.suppressed[event.type] += 1
            window.last = event
        return out

    def expire(self) -> list[Event]:
        """Close every window whose time is up; a summary for each that suppressed something."""
        now = self._clock()
        out = []
        for key, window in list(self._windows.items()):
            if now - window.start >= self.window:
                del self._windows[key]
                if window.suppressed:
                    out.append(self._summary(*key, window))
        return out

    def next_expiry(self) -> float | None:
        """Clock time at which the next window closes, None when none is open."""
        return min((w.start + self.window for w in self._windows.values()), default=None)

    def _summary(self, bond: str, slave: str | None, window: _Window) -> Event:
        total = sum(window.suppressed.values())
        if slave is None:
            active = window.last.new_active if window.last else None
            return Event(EventType.FLAP_SUMMARY, bond,
                         reason=f"bond flapping: {total} failover/failback/degraded/restored/check events not sent in "
                                f"{self.window:g}s, last: {window.last.type.value if window.last else '-'}",
                         details={"suppressed": total, **{t.value: window.suppressed[t] for t in BOND_EVENTS},
                                  "passed": window.passed, "window_s": self.window,
                                  "last": window.last.type.value if window.last else None, "active": active})
        state = "down" if window.last and window.last.type is EventType.SLAVE_DOWN else "up"
        return Event(EventType.FLAP_SUMMARY, bond, slave=slave,
                     reason=f"link flapping: {total} up/down events not sent in {self.window:g}s, "
                            f"link left {state}",
                     details={"suppressed": total,
                              "slave_down": window.suppressed[EventType.SLAVE_DOWN],
                              "slave_up": window.suppressed[EventType.SLAVE_UP],
                              "passed": window.passed, "window_s": self.window, "state": state})
