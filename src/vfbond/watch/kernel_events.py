"""Kernel observations into typed events, with repeats of one line held back.

A VF whose PF stays down logs "PF still resetting" every few seconds for as long as it lasts.
The same kind of line about the same VF therefore alerts at most once per `hold` seconds, and the
next one that goes out says how many were held back. (Unlike the flap limiter there is no state
to summarise at the end: a repeat says nothing new, only how often.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vfbond.shared.events import Event, EventType
from vfbond.watch.kmsg_rules import KernelObservation, Kind

HOLD_SECONDS = 60.0


class KernelEvents:
    def __init__(self, bond: str, hold: float = HOLD_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.bond = bond
        self.hold = hold
        self._clock = clock
        self._last: dict[tuple[str, Kind], float] = {}  # (subject, kind) -> when it last went out
        self._held: dict[tuple[str, Kind], int] = {}

    def event(self, obs: KernelObservation) -> Event | None:
        """The event to publish for this observation, None when it is not alerted or is a held-back repeat."""
        if not obs.alert:
            return None
        key = (obs.subject, obs.kind)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.hold:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        repeats = self._held.pop(key, 0)
        held = f" ({repeats} more in the last {now - last:.0f}s)" if last is not None and repeats else ""
        return Event(EventType.KERNEL_MESSAGE, self.bond, slave=obs.slave, reason=f"{obs.text}: {obs.hint}{held}",
                     details={"kind": obs.kind.value, "driver": obs.driver, "pci": obs.pci, "line": obs.text,
                              "hint": obs.hint, "repeats": repeats})
