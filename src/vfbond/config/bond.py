"""The bond: its options and its two VFs."""

from __future__ import annotations

from typing import Any

from vfbond import redact
from vfbond.config import checks
from vfbond.config.ip import read_ip
from vfbond.config.reader import Reader
from vfbond.config.schema import FAIL_OVER_MAC, PRIMARY_RESELECT, BondConfig, SlaveSpec


def read_slaves(r: Reader, raw: Any) -> tuple[SlaveSpec, ...]:
    path = "bond.slaves"
    if not isinstance(raw, list) or len(raw) != 2:
        r.problem(path, "active-backup over VFs needs exactly two slaves (one VF per physical NIC)",
                  "list two slaves, each with a name: or mac:")
        return ()
    slaves = []
    for i, item in enumerate(raw):
        p = f"{path}[{i}]"
        sect = r.section(item, p, SlaveSpec)
        for key, example in (("mac", "mac: fa:16:3e:12:34:56"), ("name", "name: ens6")):
            if key in sect.raw and sect.raw[key] is None:  # `- mac:` with nothing after it is null, not absent
                r.problem(f"{p}.{key}", "empty", f"give the VF's {key}, e.g. {example}, or remove the line")
        mac = sect.get("mac", str, checks.mac, "write it as six hex pairs, e.g. fa:16:3e:12:34:56")
        name = sect.get("name", str, checks.ifname, "use the kernel name, at most 15 characters, e.g. ens6")
        if not mac and not name and "mac" not in sect.raw and "name" not in sect.raw:
            r.problem(p, "the slave has neither name nor mac",
                      "add mac: (preferred: names differ between images) or name:")
        label = sect.get("label", str, default=f"sriov{i}")
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


def read_bond(r: Reader, raw: Any) -> BondConfig:
    sect = r.section(raw, "bond", BondConfig)
    only = sect.default("mode")
    mode = sect.raw.get("mode", only)
    if mode not in (only, 1):
        r.problem("bond.mode", f"{redact.shown('bond.mode', mode)} is not supported: VFs cannot do LACP or "
                  f"switch-assisted modes, and vfbond supervises {only} only", f"set mode: {only}")
    slaves = read_slaves(r, sect.raw.get("slaves"))
    miimon = sect.get("miimon", int, checks.positive,
                      "set miimon to a poll interval in ms, e.g. {default} (0 disables link monitoring)")
    updelay = sect.get("updelay", int, checks.non_negative, "use 0 or a multiple of miimon")
    downdelay = sect.get("downdelay", int, checks.non_negative, "use 0 or a multiple of miimon")
    for key, value in (("updelay", updelay), ("downdelay", downdelay)):
        if value % miimon:
            r.problem(f"bond.{key}", f"{value} is not a multiple of miimon ({miimon})",
                      f"use a multiple of {miimon}; the kernel would round it down")
    fom = sect.choice("fail_over_mac", FAIL_OVER_MAC, numeric=True)
    if fom != sect.default("fail_over_mac"):
        r.problem("bond.fail_over_mac", f"{fom!r} breaks VF slaves: the bond writes one MAC onto both VFs; an "
                  "untrusted VF whose MAC the host set refuses it (kernel: 'Error -99 calling set_mac_address') "
                  "and is not enslaved, and where the host allows it, spoof-check drops the backup's frames",
                  f"set fail_over_mac: {sect.default('fail_over_mac')}")
    primary = sect.get("primary", str)
    labels = [s.label for s in slaves]
    if primary is not None and slaves and primary not in labels:
        r.problem("bond.primary", f"{primary!r} is not a slave label", f"use one of: {', '.join(labels)}")
        primary = None
    return BondConfig(
        name=sect.get("name", str, checks.ifname, "use at most 15 characters without spaces, '/' or ':', "
                      "e.g. {default}"),
        slaves=slaves,
        miimon=miimon,
        updelay=updelay,
        downdelay=downdelay,
        fail_over_mac=fom,
        primary=primary,
        primary_reselect=sect.choice("primary_reselect", PRIMARY_RESELECT, numeric=True),
        num_grat_arp=sect.get("num_grat_arp", int, lambda v: None if 0 <= v <= 255 else "must be 0..255",
                              "use 0..255; {default} is the default"),
        num_unsol_na=sect.get("num_unsol_na", int, lambda v: None if 0 <= v <= 255 else "must be 0..255",
                              "use 0..255; {default} is the default"),
        mtu=sect.get("mtu", int, lambda v: None if 68 <= v <= 9216 else "must be 68..9216",
                     "use the VFs' MTU (68..9216), or remove mtu: to leave it unchanged"),
        ipv4=read_ip(r, sect.raw.get("ipv4"), "bond.ipv4", 4),
        ipv6=read_ip(r, sect.raw.get("ipv6"), "bond.ipv6", 6),
    )
