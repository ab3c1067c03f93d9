"""Failover and failback counts for pollers (SNMP, Prometheus), kept across vfbondd restarts, and
since when the bond is degraded or isolated.

A poller takes a counter that goes backwards for a reset and mis-reads the rate, so the counts are
kept in their own file (`counters.json` in daemon.state_dir), rewritten after each move, and only
grow. Not in the event ring: that holds the last `daemon.history` events only, and the counts of
the moves that left it would be lost at the next start. The ring seeds the file once, when it is
missing (the first start after an upgrade). The cause is a small fixed set (a metric label, an
SNMP enumeration), read from the event's free-text reason.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from vfbond.report.history import DIR_MODE, FILE_MODE
from vfbond.shared.events import Event, EventType
from vfbond.shared.files import atomic_write
from vfbond.shared.status import CountersStatus

log = logging.getLogger(__name__)

MOVES = (EventType.FAILOVER, EventType.FAILBACK)
# The check after each move (supervise/verify.py), by its result: the alerts on a backup that did not
# carry traffic or peers left untold read these.
CHECKS = {EventType.FAILOVER_VERIFIED: "verified", EventType.FAILOVER_UNVERIFIED: "unverified",
          EventType.PEERS_NOT_NOTIFIED: "peers_not_notified"}

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

    def __init__(self, path: Path | None = None) -> None:
        self.path = path  # None: in memory only
        self.moves: Counter[tuple[str, str, str, str]] = Counter()
        self.checks: Counter[str] = Counter()
        self.last: Event | None = None
        self.degraded_since: float | None = None
        self.isolated_since: float | None = None

    @classmethod
    def open(cls, path: Path | None, history: Iterable[Event]) -> Counters:
        """The counts kept in `path`; when it is missing (or unreadable), those of the history's events,
        written to `path` at once. Raises nothing: a write that fails is tried again at the next move."""
        counters = cls(path)
        if path is None or not counters._load(path):
            counters.seed(history)
            if path is not None:
                try:
                    counters.save()
                except OSError as exc:
                    log.warning("move counters %s: cannot write (%s); tried again at the next move", path,
                                exc.strerror or exc)
        return counters

    def _load(self, path: Path) -> bool:
        try:
            data = json.loads(path.read_text())
            moves = Counter({(m["type"], m["from"], m["to"], m["cause"]): int(m["count"]) for m in data["moves"]})
            last = None if data["last_move"] is None else Event.from_dict(data["last_move"])
            spells = (data["degraded_since"], data["isolated_since"])
            checks = Counter({str(k): int(n) for k, n in (data.get("checks") or {}).items()})  # none before 0.1.0
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("move counters %s: unreadable (%s); counting from the event history instead", path, exc)
            return False
        self.moves, self.last, (self.degraded_since, self.isolated_since) = moves, last, spells
        self.checks = checks
        return True

    def save(self) -> None:
        """Write the counts to `path`, whole or not at all, synced to disk; raises OSError."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        moves = [{"type": t, "from": f, "to": to, "cause": c, "count": n} for (t, f, to, c), n in self.moves.items()]
        atomic_write(self.path, json.dumps({
            "moves": moves, "checks": dict(self.checks),
            "last_move": None if self.last is None else self.last.to_dict(),
            "degraded_since": self.degraded_since, "isolated_since": self.isolated_since}), FILE_MODE)

    def seed(self, history: Iterable[Event]) -> None:
        for event in history:
            self.count(event)

    def count(self, event: Event) -> bool:
        """Count `event`; True when a count or spell changed (the file is then out of date)."""
        spells = (self.degraded_since, self.isolated_since)
        self._spell(event)
        if event.type in CHECKS:
            self.checks[CHECKS[event.type]] += 1
            return True
        if event.type not in MOVES:
            return spells != (self.degraded_since, self.isolated_since)
        self.moves[(event.type.value, event.old_active or "", event.new_active or "", cause_of(event.reason))] += 1
        if self.last is None or event.time >= self.last.time:
            self.last = event
        return True

    def _spell(self, event: Event) -> None:
        if event.type == EventType.BOND_RESTORED:
            self.degraded_since = self.isolated_since = None
        elif event.type == EventType.BOND_DEGRADED:  # also the way back from isolation: one slave returned
            self.degraded_since, self.isolated_since = self.degraded_since or event.time, None
        elif event.type == EventType.BOND_ISOLATED:
            self.isolated_since = self.isolated_since or event.time

    def total(self, kind: EventType) -> int:
        return sum(n for (type_, *_), n in self.moves.items() if type_ == kind.value)

    def to_dict(self) -> CountersStatus:
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
            "checks": {result: self.checks[result] for result in CHECKS.values()},
        }
