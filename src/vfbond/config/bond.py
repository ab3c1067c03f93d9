"""The bond: its options, its two VFs and its optional standby."""

from __future__ import annotations

import dataclasses
from typing import Any

from vfbond import redact
from vfbond.config import checks
from vfbond.config.ip import read_ip
from vfbond.config.reader import Reader, Section
from vfbond.config.schema import FAIL_OVER_MAC, PRIMARY_RESELECT, BondConfig, IPConfig, SlaveSpec, StandbySpec

# The kernel (drivers/net/bonding/bond_options.c) takes miimon, updelay and downdelay as 0..INT_MAX ms
# and refuses more; vfbond is stricter. miimon 0 leaves the kernel no link monitoring of its own
# while vfbondd is down, and above a minute it notices a dead VF later than any operator would
# accept; the failover check also waits num_grat_arp x miimon. updelay/downdelay hold a returning or
# a lost VF that long in the kernel and in vfbondd: ten minutes is already far past any use.
MIIMON_MS = (1, 60_000)
DELAY_MS = (0, 600_000)
PEER_NOTIF = (0, 255)  # num_grat_arp, num_unsol_na: one u8 counter in the kernel
MTU = (68, 65535)  # a bond's ETH_MIN_MTU..ETH_MAX_MTU; each VF's own maximum the kernel checks on apply
IPV6_MIN_MTU = 1280  # below it the kernel disables IPv6 on the device (addrconf)


def _read_member(r: Reader, item: Any, p: str, schema: type[SlaveSpec], role: str,
                 default_label: str | None = None) -> SlaveSpec:
    """One member, `{label, mac}` or `{label, name}`; `role` ("VF", "standby") is named in its fix texts."""
    sect = r.section(item, p, schema)
    for key, example in (("mac", "mac: fa:16:3e:12:34:56"), ("name", "name: ens6")):
        if key in sect.raw and sect.raw[key] is None:  # `- mac:` with nothing after it is null, not absent
            r.problem(f"{p}.{key}", "empty", f"give the {role}'s {key}, e.g. {example}, or remove the line")
    mac = sect.get("mac", str, checks.mac, f"give the {role}'s own unicast MAC as six hex pairs, e.g. "
                   "fa:16:3e:12:34:56 (ip -br link on the VM shows it)")
    name = sect.get("name", str, checks.ifname, f"use the {role}'s kernel name, at most 15 characters, e.g. ens6")
    if not mac and not name and "mac" not in sect.raw and "name" not in sect.raw:
        r.problem(p, f"the {role} has neither name nor mac",
                  "add mac: (preferred: names differ between images) or name:")
    label = sect.get("label", str, checks.label, f"give the {role} 1..32 letters, digits, '.', '_' or '-', e.g. "
                     "{default}", **({"default": default_label} if default_label else {}))
    return schema(label=label, name=name, mac=mac.lower() if mac else None)


def _clashes(r: Reader, path: str, member: SlaveSpec, others: list[SlaveSpec], role: str) -> None:
    """A member that is another member (same label, MAC or name) is a problem at `path`."""
    for other in others:
        if member.label == other.label:
            r.problem(f"{path}.label", f"the {role} and {other.label} are both labelled {member.label!r}",
                      f"give the {role} its own label")
        if member.mac and member.mac == other.mac:
            r.problem(f"{path}.mac", f"the {role} has {other.label}'s MAC", f"use the {role}'s own MAC")
        if member.name and member.name == other.name:
            r.problem(f"{path}.name", f"the {role} has {other.label}'s name", "name two different interfaces")


def read_slaves(r: Reader, raw: Any) -> tuple[SlaveSpec, ...]:
    path = "bond.slaves"
    if not isinstance(raw, list) or len(raw) != 2:
        r.problem(path, "active-backup over VFs needs exactly two slaves (one VF per physical NIC)",
                  "list two slaves, each with a name: or mac:")
        return ()
    slaves = [_read_member(r, item, f"{path}[{i}]", SlaveSpec, "VF", f"sriov{i}") for i, item in enumerate(raw)]
    _clashes(r, f"{path}[1]", slaves[1], slaves[:1], "second VF")
    return tuple(slaves)


def read_standby(r: Reader, raw: Any, slaves: tuple[SlaveSpec, ...]) -> StandbySpec | None:
    """`bond.standby`: every problem found in it names the standby, whichever check found it."""
    if raw is None:
        return None
    role, path, first = "standby", "bond.standby", len(r.problems)
    standby = _read_member(r, raw, path, StandbySpec, role)
    assert isinstance(standby, StandbySpec)
    _clashes(r, path, standby, list(slaves), role)
    r.problems[first:] = [p if role in p.message + p.fix else
                          dataclasses.replace(p, message=f"the standby (a paravirtual port): {p.message}")
                          for p in r.problems[first:]]
    return standby if len(r.problems) == first else None


def _read_timing(r: Reader, sect: Section) -> tuple[int, int, int]:
    """miimon, updelay and downdelay, each in its range, the delays multiples of miimon."""
    miimon = sect.get("miimon", int, checks.within(*MIIMON_MS, " ms"),
                      f"use {MIIMON_MS[0]}..{MIIMON_MS[1]} ms, e.g. {{default}} (0 would leave the kernel blind to a "
                      "dead VF while vfbondd is down)")
    delays = []
    for key in ("updelay", "downdelay"):
        value = sect.get(key, int, checks.within(*DELAY_MS, " ms"),
                         f"use 0 or a multiple of miimon up to {DELAY_MS[1]} ms ({DELAY_MS[0]}..{DELAY_MS[1]})")
        if value % miimon:
            r.problem(f"bond.{key}", f"{value} is not a multiple of miimon ({miimon})",
                      f"use a multiple of {miimon}; the kernel would round it down")
        delays.append(value)
    return miimon, delays[0], delays[1]


def _read_mtu(r: Reader, sect: Section, ipv6: IPConfig) -> int | None:
    mtu: int | None = sect.get("mtu", int, checks.within(*MTU),
                               f"use the VFs' MTU ({MTU[0]}..{MTU[1]}), or remove mtu: to leave it as it is")
    if mtu is not None and mtu < IPV6_MIN_MTU and ipv6.addresses:
        r.problem("bond.mtu", f"{mtu} is below IPv6's minimum link MTU ({IPV6_MIN_MTU}, RFC 8200): the kernel "
                  "turns IPv6 off on the bond and its IPv6 addresses go", f"use {IPV6_MIN_MTU}..{MTU[1]}, or remove "
                  "the IPv6 addresses")
        return None
    return mtu


def _check_mode(r: Reader, sect: Section) -> None:
    only = sect.default("mode")
    mode = sect.raw.get("mode", only)
    if mode not in (only, 1):
        r.problem("bond.mode", f"{redact.shown('bond.mode', mode)} is not supported: VFs cannot do LACP or "
                  f"switch-assisted modes, and vfbond supervises {only} only", f"set mode: {only}")


def read_bond(r: Reader, raw: Any) -> BondConfig:
    sect = r.section(raw, "bond", BondConfig)
    _check_mode(r, sect)
    slaves = read_slaves(r, sect.raw.get("slaves"))
    standby = read_standby(r, sect.raw.get("standby"), slaves)
    miimon, updelay, downdelay = _read_timing(r, sect)
    fom = sect.choice("fail_over_mac", FAIL_OVER_MAC, numeric=True)
    if fom != sect.default("fail_over_mac"):
        r.problem("bond.fail_over_mac", f"{fom!r} breaks VF slaves: the bond writes one MAC onto both VFs; an "
                  "untrusted VF whose MAC the host set refuses it (kernel: 'Error -99 calling set_mac_address') "
                  "and is not enslaved, and where the host allows it, spoof-check drops the backup's frames",
                  f"set fail_over_mac: {sect.default('fail_over_mac')}")
    primary = sect.get("primary", str)
    labels = [s.label for s in slaves]
    if standby is not None and primary == standby.label:
        r.problem("bond.primary", f"{primary!r} is the standby: it carries the VM only while no VF is usable",
                  f"make a VF primary ({', '.join(labels)}) or remove primary:")
        primary = None
    elif primary is not None and slaves and primary not in labels:
        r.problem("bond.primary", f"{primary!r} is not a slave label", f"use one of: {', '.join(labels)}")
        primary = None
    ipv4, ipv6 = read_ip(r, sect.raw.get("ipv4"), "bond.ipv4", 4), read_ip(r, sect.raw.get("ipv6"), "bond.ipv6", 6)
    return BondConfig(
        name=sect.get("name", str, checks.ifname, "use at most 15 characters without spaces, '/' or ':', "
                      "e.g. {default}"),
        slaves=slaves, standby=standby, miimon=miimon, updelay=updelay, downdelay=downdelay, fail_over_mac=fom,
        primary=primary,
        primary_reselect=sect.choice("primary_reselect", PRIMARY_RESELECT, numeric=True),
        num_grat_arp=sect.get("num_grat_arp", int, checks.within(*PEER_NOTIF), "use 0..255; {default} is the default"),
        num_unsol_na=sect.get("num_unsol_na", int, checks.within(*PEER_NOTIF), "use 0..255; {default} is the default"),
        mtu=_read_mtu(r, sect, ipv6), ipv4=ipv4, ipv6=ipv6)
