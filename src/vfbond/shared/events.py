"""Typed, timestamped supervisor events: what the supervisor says, every sink shows and the history keeps."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum
from typing import Any, cast

from vfbond.shared.status import EventDict


class Severity(int, Enum):
    """RFC 5424 severities (also journald PRIORITY)."""

    CRIT = 2
    ERR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6


class EventType(StrEnum):
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
    # After a failover/failback (supervise/verify.py): the gateway answered through the new VF
    # (details: reply_ms, peer_notifications), or did not; no GARP/NA left it while peers need one.
    FAILOVER_VERIFIED = "failover_verified"
    FAILOVER_UNVERIFIED = "failover_unverified"
    PEERS_NOT_NOTIFIED = "peers_not_notified"
    # The reconciler (supervise/reconciler.py): someone else changed the bond and vfbondd put the
    # config back (details: why, drift); maintenance begun and ended (`bondctl pause`/`resume`).
    CONVERGED = "converged"
    PAUSED = "paused"
    RESUMED = "resumed"
    # The standby (judge/standby.py): it carries the VM while no VF is usable; a live migration's pattern.
    ON_STANDBY = "on_standby"
    OFF_STANDBY = "off_standby"
    MIGRATION_DETACHED = "migration_detached"
    MIGRATION_ATTACHED = "migration_attached"
    VFS_NOT_RETURNED = "vfs_not_returned"


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
    EventType.FAILOVER_VERIFIED: Severity.INFO,
    EventType.FAILOVER_UNVERIFIED: Severity.ERR,
    EventType.PEERS_NOT_NOTIFIED: Severity.ERR,
    EventType.CONVERGED: Severity.WARNING,
    EventType.PAUSED: Severity.NOTICE,
    EventType.RESUMED: Severity.NOTICE,
    EventType.ON_STANDBY: Severity.WARNING,
    EventType.OFF_STANDBY: Severity.NOTICE,
    EventType.MIGRATION_DETACHED: Severity.WARNING,
    EventType.MIGRATION_ATTACHED: Severity.NOTICE,
    EventType.VFS_NOT_RETURNED: Severity.ERR,
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

    def to_dict(self) -> EventDict:
        data = asdict(self)
        data["type"] = self.type.value
        data["severity"] = self.severity.name.lower()
        return cast("EventDict", data)

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
