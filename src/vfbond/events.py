"""Typed, timestamped supervisor events and the persisted history ring."""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Iterable


class Severity(int, Enum):
    """RFC 5424 severities (also journald PRIORITY)."""

    CRIT = 2
    ERR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6


class EventType(str, Enum):
    FAILOVER = "failover"
    FAILBACK = "failback"
    SLAVE_DOWN = "slave_down"
    SLAVE_UP = "slave_up"
    SLAVE_MISSING = "slave_missing"
    SLAVE_RETURNED = "slave_returned"
    BOND_DEGRADED = "bond_degraded"
    BOND_RESTORED = "bond_restored"
    BOND_ISOLATED = "bond_isolated"
    MAC_CHANGED = "mac_changed"
    FLAP_SUMMARY = "flap_summary"
    WARNING = "warning"
    DAEMON = "daemon"
    KERNEL_MESSAGE = "kernel_message"  # a VF driver or bonding line that needs the host's attention
    PF_RESET = "pf_reset"  # a VF lost carrier because its PF is resetting
    RECOVERED = "recovered"  # that VF has carrier again; details["outage_ms"]
    RECOVERY_ATTEMPT = "recovery_attempt"  # it stayed down: vfbondd bounced it once


SEVERITY: dict[EventType, Severity] = {
    EventType.FAILOVER: Severity.WARNING,
    EventType.FAILBACK: Severity.NOTICE,
    EventType.SLAVE_DOWN: Severity.WARNING,
    EventType.SLAVE_UP: Severity.NOTICE,
    EventType.SLAVE_MISSING: Severity.ERR,
    EventType.SLAVE_RETURNED: Severity.NOTICE,
    EventType.BOND_DEGRADED: Severity.ERR,
    EventType.BOND_RESTORED: Severity.NOTICE,
    EventType.BOND_ISOLATED: Severity.CRIT,
    EventType.MAC_CHANGED: Severity.WARNING,
    EventType.FLAP_SUMMARY: Severity.WARNING,
    EventType.WARNING: Severity.WARNING,
    EventType.DAEMON: Severity.INFO,
    EventType.KERNEL_MESSAGE: Severity.WARNING,
    EventType.PF_RESET: Severity.WARNING,
    EventType.RECOVERED: Severity.NOTICE,
    EventType.RECOVERY_ATTEMPT: Severity.ERR,
}


@dataclass(frozen=True)
class Event:
    type: EventType
    bond: str
    slave: str | None = None
    old_active: str | None = None
    new_active: str | None = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.type]

    def message(self) -> str:
        """One human line, the same text every sink shows."""
        parts = [f"{self.bond}: {self.type.value}"]
        if self.slave:
            parts.append(f"slave={self.slave}")
        if self.old_active or self.new_active:
            parts.append(f"{self.old_active or '-'} -> {self.new_active or '-'}")
        if self.reason:
            parts.append(f"({self.reason})")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = self.type.value
        data["severity"] = self.severity.name.lower()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(
            type=EventType(data["type"]),
            bond=data["bond"],
            slave=data.get("slave"),
            old_active=data.get("old_active"),
            new_active=data.get("new_active"),
            reason=data.get("reason", ""),
            details=data.get("details") or {},
            time=float(data["time"]),
        )


class History:
    """Bounded event ring, appended to a JSON-lines file so it survives restarts.

    The file is compacted to the ring's contents once it holds twice the bound,
    so it never grows without limit and appends stay O(1).
    """

    def __init__(self, path: Path | None, size: int = 1000) -> None:
        self.path = path
        self.size = size
        self._ring: deque[Event] = deque(maxlen=size)
        self._lines_on_disk = 0
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            self._lines_on_disk += 1
            try:
                self._ring.append(Event.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line after a crash must not lose the rest

    def append(self, event: Event) -> None:
        self._ring.append(event)
        if self.path is None:
            return
        if self._lines_on_disk + 1 >= 2 * self.size:
            self._rewrite()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(event.to_dict()) + "\n")
        self._lines_on_disk += 1

    def _rewrite(self) -> None:
        assert self.path is not None
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in self._ring), encoding="utf-8")
        os.replace(tmp, self.path)
        self._lines_on_disk = len(self._ring)

    def last(self, n: int | None = None, types: Iterable[EventType] | None = None) -> list[Event]:
        wanted = set(types) if types else None
        events = [e for e in self._ring if wanted is None or e.type in wanted]
        return events if n is None else events[-n:]
