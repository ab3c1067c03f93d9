"""The config's shape: one frozen dataclass per section, each field's default written here and only here.

The readers, the fix texts and README's table take their defaults from these fields
(`reader.default`), so a default changed here changes everywhere.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from vfbond import paths, redact

# The choices of the enumerated fields; where a field has no default of its own, the first is it.
FAIL_OVER_MAC = ("none", "active", "follow")
PRIMARY_RESELECT = ("always", "better", "failure")
BACKENDS = ("auto", "nm", "ifcfg", "netlink")
SYSLOG_PROTOCOLS = ("udp", "tcp", "tls")
SNMP_VERSIONS = ("2c", "3")
AUTH_PROTOCOLS = ("sha", "sha256", "md5")  # the default once auth_key is set
PRIV_PROTOCOLS = ("aes", "aes256", "des")  # the default once priv_key is set


@dataclass(frozen=True)
class SlaveSpec:
    """One VF, found by MAC (stable across images) or by interface name."""

    label: str
    name: str | None = None
    mac: str | None = None

    def describe(self) -> str:
        return self.name or self.mac or self.label

    def matches(self, name: str, *macs: str | None) -> bool:
        """Is the interface `name`, carrying or remembered with one of `macs`, this VF?"""
        return bool((self.mac and self.mac in macs) or (self.name and self.name == name))


@dataclass(frozen=True)
class StandbySpec(SlaveSpec):
    """The standby: a paravirtual port (virtio, macvtap) that Nova does not detach in a live migration.

    A third, lowest-priority member, active only while no VF is usable."""

    label: str = "standby"


@dataclass(frozen=True)
class IPConfig:
    addresses: tuple[str, ...] = ()
    gateway: str | None = None

    @property
    def first_ip(self) -> str | None:
        """The first address without its prefix (an ARP sender IP), None without addresses."""
        return str(ipaddress.ip_interface(self.addresses[0]).ip) if self.addresses else None


@dataclass(frozen=True)
class BondConfig:
    name: str = "bond0"
    mode: str = "active-backup"
    slaves: tuple[SlaveSpec, ...] = ()
    standby: StandbySpec | None = None  # the paravirtual port that carries the VM while both VFs are gone
    miimon: int = 100
    updelay: int = 0
    downdelay: int = 0
    fail_over_mac: str = "active"
    primary: str | None = None  # a slave label
    primary_reselect: str = "always"
    num_grat_arp: int = 1
    num_unsol_na: int = 1
    mtu: int | None = None
    ipv4: IPConfig = IPConfig()
    ipv6: IPConfig = IPConfig()

    def slave(self, label: str) -> SlaveSpec:
        return next(s for s in self.members if s.label == label)

    @property
    def members(self) -> tuple[SlaveSpec, ...]:
        """Every member the bond enslaves: the two VFs, then the standby if there is one."""
        return self.slaves + ((self.standby,) if self.standby else ())

    def is_standby(self, label: str | None) -> bool:
        return self.standby is not None and label == self.standby.label


@dataclass(frozen=True)
class FailoverConfig:
    # Switch on the netlink carrier event instead of waiting for the next miimon poll.
    fast: bool = True
    # Seconds a VF may stay without carrier after a PF reset before vfbondd bounces it once; 0: never.
    bounce_after_s: int = 30
    # Seconds both VFs may stay detached (a live migration) before an alert names the MACs still missing.
    vf_return_alert_s: int = 300


@dataclass(frozen=True)
class ProbeConfig:
    enabled: bool = False
    targets: tuple[str, ...] = ()
    interval_ms: int = 500
    timeout_ms: int = 400
    failures: int = 3  # consecutive misses that make a slave unhealthy
    window: int = 20  # probes kept for the loss figure


@dataclass(frozen=True)
class SyslogTarget:
    host: str
    port: int = 514
    protocol: str = "udp"  # udp | tcp | tls
    ca_file: str | None = None
    app_name: str = "vfbondd"
    TLS_PORT: ClassVar[int] = 6514  # the default port with protocol: tls (RFC 5425)


@dataclass(frozen=True, repr=False)
class SnmpTarget:
    host: str
    port: int = 162
    version: str = "2c"  # 2c | 3
    community: str = "public"
    inform: bool = False
    user: str | None = None
    auth_protocol: str | None = None  # sha | sha256 | md5
    auth_key: str | None = None
    priv_protocol: str | None = None  # aes | aes256 | des
    priv_key: str | None = None
    engine_id: str | None = None

    def __repr__(self) -> str:  # community and keys: see redact
        return redact.dataclass_repr(self)


@dataclass(frozen=True)
class AlertConfig:
    syslog: tuple[SyslogTarget, ...] = ()
    snmp: tuple[SnmpTarget, ...] = ()
    queue_size: int = 1000
    flap_limit: int = 10  # alerts a minute per slave (up/down) and per bond (moves) before they are summarised


@dataclass(frozen=True)
class DaemonConfig:
    socket: str = paths.SOCKET
    socket_group: str | None = None  # root-only unless a group is named
    state_dir: str = paths.STATE_DIR
    history: int = 1000


@dataclass(frozen=True)
class MetricsConfig:
    textfile_dir: str | None = None  # node_exporter's --collector.textfile.directory; None: no file
    interval_s: int = 15  # the file is also rewritten on every event
    http_port: int | None = None  # None: no HTTP endpoint
    http_address: str = "127.0.0.1"  # the scrape endpoint shows the bond's state: not to the world by default

    @property
    def enabled(self) -> bool:
        return self.textfile_dir is not None or self.http_port is not None


@dataclass(frozen=True)
class Config:
    bond: BondConfig
    failover: FailoverConfig = FailoverConfig()
    probes: ProbeConfig = ProbeConfig()
    alerts: AlertConfig = AlertConfig()
    daemon: DaemonConfig = DaemonConfig()
    metrics: MetricsConfig = MetricsConfig()
    backend: str = "auto"
    ifcfg_dir: str = "/etc/sysconfig/network-scripts"
    source: str = "<defaults>"
