"""Whether the bond is reported isolated: one small state with two sources that raise it.

The kernel's view (transitions.py: no slave with link) and the probes (no slave reaches the
gateway) both raise it. It is reported once, and lowered only on evidence that a slave is usable;
the probes lower only an isolation they raised, when a slave answers again.
"""

from __future__ import annotations

from collections.abc import Callable

from vfbond.shared.events import Event, EventType


class Isolation:
    def __init__(self) -> None:
        self.reported = False  # an isolation went out, and no usable slave has shown since
        self.by_probes = False  # the probes found every path dead, and no slave has answered since

    def admit(self, event: Event, usable: Callable[[], bool]) -> bool:
        """Whether `event` goes out (a repeated isolation does not), keeping the state in step."""
        if event.type is EventType.BOND_ISOLATED:
            if self.reported:
                return False
            self.reported = True
        elif event.type is EventType.BOND_RESTORED or (event.type is EventType.BOND_DEGRADED and usable()):
            self.reported = False
        return True

    def probed(self, isolated: bool, usable: Callable[[], bool]) -> EventType | None:
        """The probes' decision says the bond is `isolated` or not: what to report of it, if anything."""
        if isolated and not self.by_probes:
            self.by_probes = True
            return EventType.BOND_ISOLATED
        if self.by_probes and usable():  # evidence, not merely "no longer known bad"
            self.by_probes = False
            if self.reported:
                return EventType.BOND_RESTORED
        return None
