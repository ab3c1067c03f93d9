"""Load vfbond.yaml and validate it into typed dataclasses.

Every problem is reported at once as `file:line: field: what is wrong. Fix: how`, and nothing
is touched when the file is invalid: callers only act on a returned `Config`.

Host checks (the control socket's group exists, a TLS CA file loads) look at this machine; they
are skipped only when the file is meant for another one (`bondctl day0 render`).
"""

from __future__ import annotations

import grp
import ipaddress
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vfbond import paths, redact

DEFAULT_PATH = Path(paths.CONFIG)
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
IFNAME_RE = re.compile(r"^[^\s/:]{1,15}$")

FAIL_OVER_MAC = ("none", "active", "follow")
PRIMARY_RESELECT = ("always", "better", "failure")
BACKENDS = ("auto", "nm", "ifcfg", "netlink")


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
        return next(s for s in self.slaves if s.label == label)


@dataclass(frozen=True)
class FailoverConfig:
    # Switch on the netlink carrier event instead of waiting for the next miimon poll.
    fast: bool = True
    # Seconds a VF may stay without carrier after a PF reset before vfbondd bounces it once; 0: never.
    bounce_after_s: int = 30


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


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}. Fix: {self.fix}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


MAX_DEPTH = 32  # a vfbond config nests 5 deep; PyYAML's composer recurses, and a deeper file could exhaust the stack


def _too_deep(text: str) -> int | None:
    """The line where the YAML nests deeper than MAX_DEPTH, found with the (iterative) event parser."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return event.start_mark.line + 1 if event.start_mark else 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def _line_map(text: str) -> dict[str, int]:
    """Dotted field path -> 1-based line, from the YAML node tree (values, not just keys)."""
    lines: dict[str, int] = {}
    walked: set[int] = set()  # an alias is its anchored node again: descend once, or aliases multiply paths

    def walk(node: yaml.Node, path: str) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in walked:
            return
        walked.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{path}[{i}]")

    root = yaml.compose(text)
    if root is not None:
        walk(root, "")
    return lines


class _Reader:
    """Typed access to the raw mapping that records problems instead of raising."""

    def __init__(self, file: str, lines: dict[str, int], host_checks: bool) -> None:
        self.file = file
        self.lines = lines
        self.host_checks = host_checks
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str, fix: str) -> None:
        line = self.lines.get(path)
        probe = path
        while line is None and "." in probe:  # fall back to the nearest parent that exists
            probe = probe.rsplit(".", 1)[0]
            line = self.lines.get(probe)
        if line is None:  # a missing top-level section: the document's start
            line = self.lines.get("", 1)
        self.problems.append(Problem(self.file, line, path or "<top>", message, fix))

    def section(self, raw: Any, path: str, known: tuple[str, ...]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(path, f"expected a mapping, got {type(raw).__name__}",
                         f"write {path or 'the file'} as key: value lines")
            return {}
        for key in raw:
            if key not in known:
                self.problem(f"{path}.{key}" if path else str(key), "unknown field",
                             f"remove it or use one of: {', '.join(known)}")
        return raw

    def items(self, raw: Any, path: str, fix: str) -> list[Any]:
        """A YAML list (absent or null: empty); anything else is a problem, never iterated."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(path, f"expected a list, got {type(raw).__name__}", fix)
            return []
        return raw

    def get(self, raw: dict[str, Any], path: str, key: str, kind: type, default: Any,
            check: Callable[[Any], str | None] | None = None, fix: str = "") -> Any:
        full = f"{path}.{key}" if path else key
        if check is not None and not fix:
            raise TypeError(f"{full}: a value check needs its fix")  # a programming error; every test finds it
        if key not in raw or raw[key] is None:
            return default
        value = raw[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.problem(full, f"expected {kind.__name__}, got {redact.shown(full, value)}",
                         fix or f"give {key} a {kind.__name__}" + (" (quote it)" if kind is str else ""))
            return default
        if check is not None and (why := check(value)):
            self.problem(full, why, fix)
            return default
        return value

    def choice(self, raw: dict[str, Any], path: str, key: str, choices: tuple[str, ...], default: str,
               fix: str | None = None, numeric: bool = False) -> str:
        def check(v: str) -> str | None:
            return None if v in choices else f"{v!r} is not one of {', '.join(choices)}"
        # `fail_over_mac: 1` is the seed's (and sysfs's) spelling: with numeric, the numbers map onto the names.
        value = raw.get(key)
        if numeric and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(choices):
            return choices[value]
        return self.get(raw, path, key, str, default, check, fix or f"set {key} to one of {', '.join(choices)}")


def _non_negative(v: int) -> str | None:
    return None if v >= 0 else "must be 0 or more"


def _positive(v: int) -> str | None:
    return None if v > 0 else "must be more than 0"


def _bounce_after(v: int) -> str | None:
    # igbvf regains carrier 4-8 s after its PF is back: a shorter bounce would hit a VF still recovering.
    return None if v == 0 or 5 <= v <= 3600 else f"{v} is neither 0 nor 5..3600 seconds"


def _absolute(v: str) -> str | None:
    return None if v.startswith("/") else f"{v!r} is relative (to whatever directory runs us)"


def _ip(v: str) -> str | None:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return f"{v!r} is not an IP address"
    return None


def _gateway(v: str) -> str | None:
    if "%" in v:  # ipaddress accepts a zone; the route's device is the bond anyway
        return f"{v!r} names a zone"
    return _ip(v)


def _port(v: int) -> str | None:
    return None if 1 <= v <= 65535 else f"{v} is not a port (1..65535)"


def _group(v: str) -> str | None:
    try:
        grp.getgrnam(v)
    except KeyError:
        return f"no group {v!r} on this host"
    return None


def _ca_file(v: str) -> str | None:
    """Loaded the way the syslog sink loads it, so whatever would stop the sink stops the config."""
    try:
        ssl.create_default_context(cafile=v)
    except ssl.SSLError as exc:  # an OSError too: first
        return f"{v} holds no PEM certificate ({exc.reason or exc})"
    except OSError as exc:
        return f"{v} cannot be read: {exc.strerror or exc}"
    return None


def _engine_id(v: str) -> str | None:
    """snmpEngineID: 5 to 32 octets (RFC 3411), written in hex."""
    digits = v.removeprefix("0x")
    if not re.fullmatch(r"([0-9a-fA-F]{2}){5,32}", digits):
        return f"{v!r} is not an engine ID"
    return None


def _read_ip(r: _Reader, raw: Any, path: str, version: int) -> IPConfig:
    sect = r.section(raw, path, ("addresses", "address", "gateway"))
    addresses: list[str] = []
    items = r.items(sect.get("addresses"), f"{path}.addresses", "write addresses as a YAML list of CIDRs")
    if "address" in sect:
        items = [sect["address"], *items]
    for i, item in enumerate(items):
        field_path = f"{path}.addresses[{i}]" if "addresses" in sect else f"{path}.address"
        try:
            if not isinstance(item, str):
                raise ValueError
            iface = ipaddress.ip_interface(item)
            if iface.version != version or "/" not in item:
                raise ValueError
            addresses.append(str(iface))
        except ValueError:
            example = "10.10.1.5/24" if version == 4 else "2001:db8:10::5/64"
            r.problem(field_path, f"{redact.shown(field_path, item)} is not an IPv{version} address with a prefix "
                      "length", f"write it as CIDR, e.g. {example}")
    gateway = r.get(sect, path, "gateway", str, None, _gateway,
                    "give the gateway as a plain address, e.g. 192.0.2.1 or fe80::1 (no %zone)")
    if gateway is not None and ipaddress.ip_address(gateway).version != version:
        r.problem(f"{path}.gateway", f"{gateway} is not IPv{version}", f"move it under ipv{6 if version == 4 else 4}")
        gateway = None
    if gateway and not addresses and "address" not in sect and "addresses" not in sect:
        r.problem(f"{path}.gateway", f"{gateway} is given without addresses, and a family without addresses is "
                  "left off (NetworkManager, ifcfg)", f"add the bond's IPv{version} addresses, or remove the gateway")
    # A router advertises its link-local address (fe80::/10): on the bond's link, in none of its subnets.
    if gateway and addresses and not ipaddress.ip_address(gateway).is_link_local \
            and not any(ipaddress.ip_address(gateway) in ipaddress.ip_interface(a).network for a in addresses):
        r.problem(f"{path}.gateway", f"{gateway} is in none of the bond's subnets ({', '.join(addresses)})",
                  "correct the gateway or the address prefix")
    return IPConfig(tuple(addresses), gateway)


def _read_slaves(r: _Reader, raw: Any) -> tuple[SlaveSpec, ...]:
    path = "bond.slaves"
    if not isinstance(raw, list) or len(raw) != 2:
        r.problem(path, "active-backup over VFs needs exactly two slaves (one VF per physical NIC)",
                  "list two slaves, each with a name: or mac:")
        return ()
    slaves = []
    for i, item in enumerate(raw):
        p = f"{path}[{i}]"
        sect = r.section(item, p, ("label", "name", "mac"))
        for key, example in (("mac", "mac: fa:16:3e:12:34:56"), ("name", "name: ens6")):
            if key in sect and sect[key] is None:  # `- mac:` with nothing after it is null, not absent
                r.problem(f"{p}.{key}", "empty", f"give the VF's {key}, e.g. {example}, or remove the line")
        mac = r.get(sect, p, "mac", str, None,
                    lambda v: None if MAC_RE.match(v.lower()) else f"{v!r} is not a MAC address",
                    "write it as six hex pairs, e.g. fa:16:3e:12:34:56")
        name = r.get(sect, p, "name", str, None,
                     lambda v: None if IFNAME_RE.match(v) else f"{v!r} is not a valid interface name",
                     "use the kernel name, at most 15 characters, e.g. ens6")
        if not mac and not name and "mac" not in sect and "name" not in sect:
            r.problem(p, "the slave has neither name nor mac",
                      "add mac: (preferred: names differ between images) or name:")
        label = r.get(sect, p, "label", str, f"sriov{i}")
        slaves.append(SlaveSpec(label=label, name=name, mac=mac.lower() if mac else None))
    if len(slaves) == 2:
        a, b = slaves
        if a.label == b.label:
            r.problem(f"{path}[1].label", f"both slaves are labelled {a.label!r}", "give each slave its own label")
        if a.mac and a.mac == b.mac:
            r.problem(f"{path}[1].mac", "both slaves have the same MAC", "use each VF's own MAC")
        if a.name and a.name == b.name:
            r.problem(f"{path}[1].name", "both slaves have the same name", "name two different interfaces")
    return tuple(slaves)


def _read_bond(r: _Reader, raw: Any) -> BondConfig:
    known = ("name", "mode", "slaves", "miimon", "updelay", "downdelay", "fail_over_mac", "primary",
             "primary_reselect", "num_grat_arp", "num_unsol_na", "mtu", "ipv4", "ipv6")
    sect = r.section(raw, "bond", known)
    mode = sect.get("mode", "active-backup")
    if mode not in ("active-backup", 1):
        r.problem("bond.mode", f"{redact.shown('bond.mode', mode)} is not supported: VFs cannot do LACP or "
                  "switch-assisted modes, and vfbond supervises active-backup only", "set mode: active-backup")
    slaves = _read_slaves(r, sect.get("slaves"))
    miimon = r.get(sect, "bond", "miimon", int, 100, _positive,
                   "set miimon to a poll interval in ms, e.g. 100 (0 disables link monitoring)")
    updelay = r.get(sect, "bond", "updelay", int, 0, _non_negative, "use 0 or a multiple of miimon")
    downdelay = r.get(sect, "bond", "downdelay", int, 0, _non_negative, "use 0 or a multiple of miimon")
    for key, value in (("updelay", updelay), ("downdelay", downdelay)):
        if value % miimon:
            r.problem(f"bond.{key}", f"{value} is not a multiple of miimon ({miimon})",
                      f"use a multiple of {miimon}; the kernel would round it down")
    fom = r.choice(sect, "bond", "fail_over_mac", FAIL_OVER_MAC, "active", numeric=True)
    if fom != "active":
        r.problem("bond.fail_over_mac", f"{fom!r} breaks VF slaves: the bond writes one MAC onto both VFs; an "
                  "untrusted VF whose MAC the host set refuses it (kernel: 'Error -99 calling set_mac_address') "
                  "and is not enslaved, and where the host allows it, spoof-check drops the backup's frames",
                  "set fail_over_mac: active")
    primary = r.get(sect, "bond", "primary", str, None)
    labels = [s.label for s in slaves]
    if primary is not None and slaves and primary not in labels:
        r.problem("bond.primary", f"{primary!r} is not a slave label", f"use one of: {', '.join(labels)}")
        primary = None
    reselect = r.choice(sect, "bond", "primary_reselect", PRIMARY_RESELECT, "always", numeric=True)
    return BondConfig(
        name=r.get(sect, "bond", "name", str, "bond0",
                   lambda v: None if IFNAME_RE.match(v) else f"{v!r} is not a valid interface name",
                   "use at most 15 characters without spaces, '/' or ':', e.g. bond0"),
        slaves=slaves,
        miimon=miimon,
        updelay=updelay,
        downdelay=downdelay,
        fail_over_mac=fom,
        primary=primary,
        primary_reselect=reselect,
        num_grat_arp=r.get(sect, "bond", "num_grat_arp", int, 1,
                           lambda v: None if 0 <= v <= 255 else "must be 0..255", "use 0..255; 1 is usual"),
        num_unsol_na=r.get(sect, "bond", "num_unsol_na", int, 1,
                           lambda v: None if 0 <= v <= 255 else "must be 0..255", "use 0..255; 1 is usual"),
        mtu=r.get(sect, "bond", "mtu", int, None, lambda v: None if 68 <= v <= 9216 else "must be 68..9216",
                  "use the VFs' MTU (68..9216), or remove mtu: to leave it unchanged"),
        ipv4=_read_ip(r, sect.get("ipv4"), "bond.ipv4", 4),
        ipv6=_read_ip(r, sect.get("ipv6"), "bond.ipv6", 6),
    )


def _read_probes(r: _Reader, raw: Any) -> ProbeConfig:
    sect = r.section(raw, "probes", ("enabled", "targets", "interval_ms", "timeout_ms", "failures", "window"))
    targets = r.items(sect.get("targets"), "probes.targets", "list the gateway addresses to probe")
    good = []
    for i, t in enumerate(targets):
        if why := _ip(t) if isinstance(t, str) else f"expected an address, got {redact.shown('probes.targets', t)}":
            r.problem(f"probes.targets[{i}]", why, "give a plain IPv4 or IPv6 address (usually the gateway)")
        else:
            good.append(t)
    enabled = r.get(sect, "probes", "enabled", bool, bool(good))
    if enabled and not good:
        r.problem("probes.targets", "probes are enabled but no target is given",
                  "add the gateway address under probes.targets, or set enabled: false")
    interval = r.get(sect, "probes", "interval_ms", int, 500, lambda v: None if v >= 50 else "must be 50 or more",
                     "use 50 ms or more; 500 is the default")
    timeout = r.get(sect, "probes", "timeout_ms", int, min(400, interval), _positive,
                    "use up to interval_ms; 400 is the default")
    if timeout > interval:
        r.problem("probes.timeout_ms", f"{timeout} is longer than interval_ms ({interval})",
                  "make the timeout at most the interval")
    return ProbeConfig(enabled=enabled, targets=tuple(good), interval_ms=interval, timeout_ms=timeout,
                       failures=r.get(sect, "probes", "failures", int, 3, _positive, "use 1 or more; 3 is the default"),
                       window=r.get(sect, "probes", "window", int, 20, _positive, "use 1 or more; 20 is the default"))


def _read_alerts(r: _Reader, raw: Any) -> AlertConfig:
    sect = r.section(raw, "alerts", ("syslog", "snmp", "queue_size", "flap_limit"))
    syslog = []
    listed = "write it as a YAML list of servers, e.g. [{host: 192.0.2.50, protocol: tcp}], or []"
    for i, item in enumerate(r.items(sect.get("syslog"), "alerts.syslog", listed)):
        p = f"alerts.syslog[{i}]"
        s = r.section(item, p, ("host", "port", "protocol", "ca_file", "app_name"))
        host = r.get(s, p, "host", str, None)
        if not host:
            r.problem(f"{p}.host", "missing", "name the syslog server, e.g. host: 192.0.2.50")
            continue
        protocol = r.choice(s, p, "protocol", ("udp", "tcp", "tls"), "udp")
        ca_file = r.get(s, p, "ca_file", str, None, _absolute,
                        "give the absolute path of the CA bundle, e.g. /etc/pki/tls/certs/syslog-ca.pem")
        if ca_file and r.host_checks and (why := _ca_file(ca_file)):
            r.problem(f"{p}.ca_file", why, "install the server's CA certificate (PEM) there, or correct the path")
        syslog.append(SyslogTarget(host=host, port=r.get(s, p, "port", int, 6514 if protocol == "tls" else 514,
                                                         _port, "use the server's port, e.g. 514 or 6514 for tls"),
                                   protocol=protocol, ca_file=ca_file,
                                   app_name=r.get(s, p, "app_name", str, "vfbondd")))
    snmp = []
    keys = ("host", "port", "version", "community", "inform", "user", "auth_protocol", "auth_key",
            "priv_protocol", "priv_key", "engine_id")
    listed = "write it as a YAML list of receivers, e.g. [{host: 192.0.2.60, version: 2c}], or []"
    for i, item in enumerate(r.items(sect.get("snmp"), "alerts.snmp", listed)):
        p = f"alerts.snmp[{i}]"
        s = r.section(item, p, keys)
        host = r.get(s, p, "host", str, None)
        if not host:
            r.problem(f"{p}.host", "missing", "name the trap receiver, e.g. host: 192.0.2.60")
            continue
        version = s.get("version", "2c")
        version = str(version) if isinstance(version, (str, int)) else version  # YAML reads `version: 3` as an int
        if version not in ("2c", "3"):
            r.problem(f"{p}.version", f"{redact.shown(f'{p}.version', version)} is not supported",
                      "use version: 2c or version: 3")
        user = r.get(s, p, "user", str, None)
        if version == "3" and not user:
            r.problem(f"{p}.user", "SNMPv3 needs a user", "add user: (and auth_key/priv_key for authPriv)")
        auth_key, priv_key = r.get(s, p, "auth_key", str, None), r.get(s, p, "priv_key", str, None)
        for key, value in (("auth_key", auth_key), ("priv_key", priv_key)):
            if value is not None and len(value) < 8:
                r.problem(f"{p}.{key}", "shorter than 8 characters (RFC 3414 minimum)", "use a longer key")
        if priv_key and not auth_key:
            r.problem(f"{p}.priv_key", "SNMPv3 has no privacy without authentication", "add auth_key:")
        inform = r.get(s, p, "inform", bool, False)
        engine_id = r.get(s, p, "engine_id", str, None, _engine_id,
                          "give 10 to 64 hex digits, e.g. 0x80001f888056666f6e64")
        if version == "3" and not inform and not engine_id and "engine_id" not in s:
            r.problem(f"{p}.engine_id", "SNMPv3 traps are sent with this host's engine ID, and the receiver "
                      "must know it to check them", "set engine_id: (e.g. 0x80001f888056666f6e64) and give the "
                      "receiver the same one (snmptrapd: createUser -e ID ...), or use inform: true")
        snmp.append(SnmpTarget(
            host=host, port=r.get(s, p, "port", int, 162, _port, "use the receiver's port, usually 162"),
            version=version,
            community=r.get(s, p, "community", str, "public"), inform=inform, user=user,
            auth_protocol=r.choice(s, p, "auth_protocol", ("sha", "sha256", "md5"), "sha") if auth_key else None,
            auth_key=auth_key,
            priv_protocol=r.choice(s, p, "priv_protocol", ("aes", "aes256", "des"), "aes") if priv_key else None,
            priv_key=priv_key, engine_id=engine_id))
    return AlertConfig(syslog=tuple(syslog), snmp=tuple(snmp),
                       queue_size=r.get(sect, "alerts", "queue_size", int, 1000, _positive,
                                        "use 1 or more; 1000 is the default"),
                       flap_limit=r.get(sect, "alerts", "flap_limit", int, 10, _positive,
                                        "use 1 or more events per minute; 10 is the default"))


def _read_metrics(r: _Reader, raw: Any) -> MetricsConfig:
    sect = r.section(raw, "metrics", ("textfile_dir", "interval_s", "http_port", "http_address"))
    return MetricsConfig(
        textfile_dir=r.get(sect, "metrics", "textfile_dir", str, None, _absolute,
                           "give node_exporter's --collector.textfile.directory as an absolute path, "
                           "e.g. /var/lib/node_exporter/textfile_collector"),
        interval_s=r.get(sect, "metrics", "interval_s", int, 15,
                         lambda v: None if 1 <= v <= 3600 else f"{v} is not 1..3600 seconds",
                         "use 1..3600 seconds; 15 is the default (the file is also written on every event)"),
        http_port=r.get(sect, "metrics", "http_port", int, None, _port,
                        "use a free TCP port, e.g. 9862, or remove http_port: for no HTTP endpoint"),
        http_address=r.get(sect, "metrics", "http_address", str, "127.0.0.1", _ip,
                           "give an address of this host to listen on, e.g. 127.0.0.1 or 0.0.0.0"))


def _yaml_problem(exc: yaml.YAMLError, text: str, file: str) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError):  # a control character: binary, not a YAML text
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return Problem(file, line, "<file>", f"not a text file: it holds the control character U+{code:04X}",
                       "give the vfbond YAML file (check the path), or remove the character")
    mark = getattr(exc, "problem_mark", None)
    what = " ".join(str(getattr(exc, "problem", None) or exc).split())
    return Problem(file, mark.line + 1 if mark else None, "<yaml>", what,
                   "fix the YAML syntax (indentation, a missing colon or quote)")


def parse(text: str, file: str = "<string>", *, host_checks: bool = True) -> Config:
    try:
        if line := _too_deep(text):
            raise ConfigError([Problem(file, line, "<yaml>", f"nested more than {MAX_DEPTH} levels deep",
                                       "check the brackets and indentation: vfbond's config nests 5 levels")])
        lines = _line_map(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(exc, text, file)]) from None
    r = _Reader(file, lines, host_checks)
    top = r.section(raw if raw is not None else {}, "", ("bond", "failover", "probes", "alerts", "daemon",
                                                         "metrics", "backend", "ifcfg_dir"))
    if r.problems and not top:  # not a mapping at all: every other report would only repeat that
        raise ConfigError(r.problems)
    if "bond" not in top:
        r.problem("bond", "missing", "add a bond: section with two slaves")
    bond = _read_bond(r, top.get("bond"))
    fo = r.section(top.get("failover"), "failover", ("fast", "bounce_after_s"))
    dm = r.section(top.get("daemon"), "daemon", ("socket", "socket_group", "state_dir", "history"))
    config = Config(
        bond=bond,
        failover=FailoverConfig(fast=r.get(fo, "failover", "fast", bool, True),
                                bounce_after_s=r.get(fo, "failover", "bounce_after_s", int, 30, _bounce_after,
                                                     "set 0 (never bounce) or 5..3600 seconds, e.g. 30")),
        probes=_read_probes(r, top.get("probes")),
        alerts=_read_alerts(r, top.get("alerts")),
        daemon=DaemonConfig(
            socket=r.get(dm, "daemon", "socket", str, DaemonConfig.socket),
            socket_group=r.get(dm, "daemon", "socket_group", str, None, _group if r.host_checks else None,
                               "create the group (groupadd NAME) or remove socket_group: for a root-only socket"),
            state_dir=r.get(dm, "daemon", "state_dir", str, DaemonConfig.state_dir),
            history=r.get(dm, "daemon", "history", int, 1000, _positive, "use 1 or more; 1000 is the default")),
        metrics=_read_metrics(r, top.get("metrics")),
        backend=r.choice(top, "", "backend", BACKENDS, "auto"),
        ifcfg_dir=r.get(top, "", "ifcfg_dir", str, Config.ifcfg_dir),
        source=file,
    )
    if r.problems:
        raise ConfigError(r.problems)
    return config


def load(path: Path | str = DEFAULT_PATH, *, host_checks: bool = True) -> Config:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, "<file>", exc.strerror or str(exc),
                                   "create it (see examples/vfbond.yaml) or pass --config PATH")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError([Problem(str(path), line, "<file>", f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
                                   "save it as UTF-8 (e.g. iconv -t UTF-8), or check the path names the vfbond "
                                   "YAML file")]) from None
    return parse(text, str(path), host_checks=host_checks)
