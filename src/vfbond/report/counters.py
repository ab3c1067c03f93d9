"""Failover and failback counts for pollers (SNMP, Prometheus), kept across vfbondd restarts, and
since when the bond is degraded or isolated.

A poller takes a counter that goes backwards for a reset and mis-reads the rate, so the counts are
seeded from the persisted history at start and only grow while vfbondd runs. The cause is a small
fixed set (a metric label, an SNMP enumeration), read from the event's free-text reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from vfbond.shared.events import Event, EventType

MOVES = (EventType.FAILOVER, EventType.FAILBACK)

# First match wins; the texts are those judge/policy.py, judge/transitions.py and simulate-failover write.
CAUSES: tuple[tuple[str, str], ...] = (
    ("simulate-failover", "manual"),
    ("path failure", "path_failure"),
    ("carrier loss", "carrier_loss"),
    ("slave missing", "slave_missing"),
    ("left the bond", "slave_missing"),
    ("healthy again", "primary_back"),
    ("first slave became active", "first_active"),
    ("kernel reselection", "kernel"),
)


def cause_of(reason: str) -> str:
    return next((cause for text, cause in CAUSES if text in reason), "other")


class Counters:
    """Moves of the active slave, by (type, from, to, cause), the newest one, and the bond's
    degraded and isolated spells."""

    def __init__(self) -> None:
        self.moves: Counter[tuple[str, str, str, str]] = Counter()
        self.last: Event | None = None
        self.degraded_since: float | None = None
        self.isolated_since: float | None = None

    def seed(self, history: Iterable[Event]) -> None:
        for event in history:
            self.count(event)

    def count(self, event: Event) -> None:
        self._spell(event)
        if event.type not in MOVES:
            return
        self.moves[(event.type.value, event.old_active or "", event.new_active or "", cause_of(event.reason))] += 1
        if self.last is None or event.time >= self.last.time:
            self.last = event

    def _spell(self, event: Event) -> None:
        if event.type == EventType.BOND_RESTORED:
            self.degraded_since = self.isolated_since = None
        elif event.type == EventType.BOND_DEGRADED:  # also the way back from isolation: one slave returned
            self.degraded_since, self.isolated_since = self.degraded_since or event.time, None
        elif event.type == EventType.BOND_ISOLATED:
            self.isolated_since = self.isolated_since or event.time

    def total(self, kind: EventType) -> int:
        return sum(n for (type_, *_), n in self.moves.items() if type_ == kind.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "failovers": self.total(EventType.FAILOVER),
            "failbacks": self.total(EventType.FAILBACK),
            "moves": [{"type": t, "from": f, "to": to, "cause": c, "count": n}
                      for (t, f, to, c), n in sorted(self.moves.items())],
            "last_move": None if self.last is None else {
                "type": self.last.type.value, "time": self.last.time, "from": self.last.old_active,
                "to": self.last.new_active, "cause": cause_of(self.last.reason), "reason": self.last.reason},
            "degraded_since": self.degraded_since,
            "isolated_since": self.isolated_since,
        }
