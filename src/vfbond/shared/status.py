"""vfbondd's status, typed: what `status` answers on the control socket, and every part of it.

TypedDicts, not dataclasses: they are the JSON as it goes out (`bondctl status --json`, the SNMP
agent, the Prometheus collector and the lab tests all read it by key), so typing them changes
nothing on the wire, and mypy strict rejects a misspelled key wherever the status is built or read.
Each part is named after its producer; `Status` is the whole reply (daemon/lifecycle.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NotRequired, TypedDict


class Verdict(StrEnum):
    """A slave's health (judge/health.py judges it; the policy, status and pollers read it)."""

    UP = "up"  # carrier up and the gateway answers (or probes are disabled)
    PATH_DOWN = "path_down"  # carrier up but the gateway stopped answering on this slave
    DOWN = "down"  # no carrier
    MISSING = "missing"  # the interface is gone (VF unplugged)
    UNKNOWN = "unknown"  # not proven either way yet


# --- the bond as the kernel has it (kernel/bond_state.py's dataclasses, as asdict() makes them) ----

class LinkDict(TypedDict):
    index: int
    name: str
    mac: str
    perm_mac: str | None
    kind: str | None
    master: int | None
    carrier: bool
    operstate: str
    mtu: int
    up: bool
    driver: str | None
    pci_address: str | None
    pf_address: str | None
    numa_node: int | None
    speed_mbps: int | None


class SlaveDict(TypedDict):
    link: LinkDict
    state: str  # active | backup
    mii_status: str  # up | fail | down | back
    link_failure_count: int
    perm_mac: str | None


class BondDict(TypedDict):
    link: LinkDict
    mode: str
    active_slave: str | None
    miimon: int
    updelay: int
    downdelay: int
    fail_over_mac: str
    primary: str | None
    primary_reselect: str
    arp_interval: int
    arp_ip_targets: list[str]
    num_peer_notif: int
    slaves: list[SlaveDict]
    addresses: list[str]


class EventDict(TypedDict):
    """shared/events.py's Event.to_dict()."""

    type: str
    bond: str
    slave: str | None
    old_active: str | None
    new_active: str | None
    reason: str
    details: dict[str, Any]  # per event type
    time: float
    severity: str


# --- the supervisor's part -----------------------------------------------------------------------

class ProbeStats(TypedDict):
    last_reply_age_s: float | None
    rtt_last_ms: float | None
    rtt_avg_ms: float | None
    loss_pct: float | None
    probes_in_window: int


class TargetHealth(ProbeStats):
    state: str  # healthy | unhealthy | unknown
    consecutive_failures: int


class SlaveHealth(ProbeStats):
    """judge/health.py's snapshot of one slave."""

    verdict: Verdict
    present: bool
    carrier: bool | None
    probes: str  # healthy | unhealthy | unknown | disabled
    targets: dict[str, TargetHealth]


class LabelledHealth(SlaveHealth):
    label: str  # the config's; the entry is keyed by interface name


class ConfiguredSlave(TypedDict):
    label: str
    ifname: str | None  # None while vfbondd does not see it


class FaultEntry(TypedDict):
    kind: str
    error: str
    time: float


class FaultsStatus(TypedDict):
    total: int
    by_kind: dict[str, int]
    last: FaultEntry | None


class KernelStatus(TypedDict):
    """What bondctl reads from the kernel alone, when vfbondd does not answer."""

    bond: BondDict | None
    warnings: list[str]
    source: NotRequired[str]  # bondctl's: where the status came from


class StandbyState(TypedDict):
    """judge/standby.py's account of the paravirtual third member (#22)."""

    on_standby: bool
    on_standby_s: float | None  # how long it has carried the VM this time
    on_standby_total_s: float  # since vfbondd started
    detached: list[str]  # the VFs' labels gone from the VM
    migration: bool  # both VFs detached: a live migration is under way


class StandbyStatus(StandbyState):
    label: str
    ifname: str | None
    role: str


class SupervisorStatus(KernelStatus):
    bond_name: str
    verdicts: dict[str, Verdict]  # by interface name
    health: dict[str, LabelledHealth]  # by interface name
    probes: str  # enabled | disabled
    isolated: bool
    starting: bool
    primary: str | None
    configured: list[ConfiguredSlave]  # config order: pollers index the VFs by it
    last_failover: EventDict | None
    last_check: EventDict | None
    faults: FaultsStatus
    standby: StandbyStatus | None  # None without bond.standby
    vfs_not_returned: list[str]  # MACs of VFs a migration detached, still missing after vf_return_alert_s


# --- the daemon's own part -----------------------------------------------------------------------

class FollowersStatus(TypedDict):
    connected: int
    events_dropped: int


class ApplyStatus(TypedDict):
    """daemon/running.py's: the backend and the config's apply."""

    backend: str
    waiting: str | None
    backend_name: str | None
    backend_version: str | None
    apply_attempts: int


class DaemonStatus(ApplyStatus):
    pid: int
    version: str
    config: str
    followers: FollowersStatus
    history_write_errors: int  # events the history file could not take


class SinkStats(TypedDict):
    queued: int
    delivered: int
    retries: int
    dropped: int
    last_error: str | None
    last_ok_time: float | None


# --- the VF watch (supervise/vfwatch.py) ---------------------------------------------------------

class LockDict(TypedDict):
    """supervise/maclock.py's verdict."""

    state: str  # locked | unlocked | unknown
    why: str
    restore_error: str | None


class DescribedLock(LockDict):
    text: str  # one line for status and doctor


class MacLockDict(DescribedLock):
    label: str


class Outage(TypedDict):
    """supervise/pfreset.py's: a VF without carrier now."""

    down_s: float
    pf_reset: bool
    bounced: bool


class OutageDict(Outage):
    bounce_after_s: float  # 0: never bounce


class KernelLine(TypedDict):
    time: float
    kind: str
    line: str
    hint: str  # what to do on the host; "" when nothing


class VfSlave(TypedDict, total=False):
    """What only real VFs show, each part only when there is something to show."""

    mac_lock: MacLockDict
    outage: OutageDict
    kernel: list[KernelLine]


class WaitingVf(TypedDict):
    pci: str | None
    since: float
    netdev: str | None
    text: str


class KmsgStats(TypedDict):
    overwritten: int
    dropped: int
    errors: int


class KmsgStatus(KmsgStats):
    error: str | None  # why /dev/kmsg is not followed


class VfStatus(TypedDict):
    slaves: dict[str, VfSlave]  # by interface name (or PCI address)
    waiting: dict[str, WaitingVf]  # by label
    kmsg: KmsgStatus


# --- counters, the reconciler, the event loop ----------------------------------------------------

Move = TypedDict("Move", {"type": str, "from": str, "to": str, "cause": str, "count": int})
LastMove = TypedDict("LastMove", {"type": str, "time": float, "from": str | None, "to": str | None,
                                  "cause": str, "reason": str})


class CountersStatus(TypedDict):
    failovers: int
    failbacks: int
    moves: list[Move]
    last_move: LastMove | None
    degraded_since: float | None
    isolated_since: float | None
    checks: dict[str, int]  # the checks after the moves, by result: verified, unverified, peers_not_notified


class PauseDict(TypedDict):
    reason: str
    since: float
    until: float | None  # None: until `bondctl resume`


class Repair(TypedDict):
    time: float
    why: str
    drift: list[str]


class ReconcileStatus(TypedDict):
    paused: PauseDict | None
    drift_while_paused: str | None
    waiting_for: str | None
    repairs: int
    last_repair: Repair | None
    applying: bool


class LoopLagStatus(TypedDict):
    p50_ms: float
    p99_ms: float
    max_ms: float
    worst_ms: float
    window_s: int


class Status(SupervisorStatus):
    """vfbondd's whole answer to `status`."""

    daemon: DaemonStatus
    alerts: dict[str, SinkStats]  # by sink name
    vf: VfStatus
    counters: CountersStatus
    reconcile: ReconcileStatus
    loop_lag: LoopLagStatus
