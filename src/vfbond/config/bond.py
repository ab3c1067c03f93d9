"""The bond: its options and its two VFs."""

from __future__ import annotations

from typing import Any

from vfbond import redact
from vfbond.config import checks
from vfbond.config.ip import read_ip
from vfbond.config.reader import Reader
from vfbond.config.schema import BondConfig, SlaveSpec

FAIL_OVER_MAC = ("none", "active", "follow")
PRIMARY_RESELECT = ("always", "better", "failure")


def read_slaves(r: Reader, raw: Any) -> tuple[SlaveSpec, ...]:
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
        mac = r.get(sect, p, "mac", str, None, checks.mac, "write it as six hex pairs, e.g. fa:16:3e:12:34:56")
        name = r.get(sect, p, "name", str, None, checks.ifname, "use the kernel name, at most 15 characters, e.g. ens6")
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


def read_bond(r: Reader, raw: Any) -> BondConfig:
    known = ("name", "mode", "slaves", "miimon", "updelay", "downdelay", "fail_over_mac", "primary",
             "primary_reselect", "num_grat_arp", "num_unsol_na", "mtu", "ipv4", "ipv6")
    sect = r.section(raw, "bond", known)
    mode = sect.get("mode", "active-backup")
    if mode not in ("active-backup", 1):
        r.problem("bond.mode", f"{redact.shown('bond.mode', mode)} is not supported: VFs cannot do LACP or "
                  "switch-assisted modes, and vfbond supervises active-backup only", "set mode: active-backup")
    slaves = read_slaves(r, sect.get("slaves"))
    miimon = r.get(sect, "bond", "miimon", int, 100, checks.positive,
                   "set miimon to a poll interval in ms, e.g. 100 (0 disables link monitoring)")
    updelay = r.get(sect, "bond", "updelay", int, 0, checks.non_negative, "use 0 or a multiple of miimon")
    downdelay = r.get(sect, "bond", "downdelay", int, 0, checks.non_negative, "use 0 or a multiple of miimon")
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
        name=r.get(sect, "bond", "name", str, "bond0", checks.ifname,
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
        ipv4=read_ip(r, sect.get("ipv4"), "bond.ipv4", 4),
        ipv6=read_ip(r, sect.get("ipv6"), "bond.ipv6", 6),
    )
