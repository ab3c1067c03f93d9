"""The bond's condition, judged in one place: ok, degraded, down or absent.

`bondctl health`, the SNMP table (vfbondBondCondition), the metrics (vfbond_bond_degraded,
vfbond_bond_isolated) and the events (transitions.py: bond_degraded, bond_restored, bond_isolated)
all ask `judge`; they differ only in what they count as usable. From a status: each configured VF
in the bond with vfbondd's verdict up (joined here, in config order, for the pollers' tables);
without vfbondd, each slave the kernel has up. The standby carrying the traffic while no VF is
usable is degraded, not down: the VM is on the network (transitions.py raises no bond_isolated
then either). Pure: no sockets, no kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeGuard

from vfbond.shared.status import KernelStatus, SlaveDict, Status, Verdict

EXPECTED = 2  # slaves a bond has when whole: the config takes exactly two (config/bond.py)


class Condition(StrEnum):
    OK = "ok"  # every expected slave usable (SNMP: up)
    DEGRADED = "degraded"  # some usable, not all; or a standing warning, for `bondctl health`
    DOWN = "down"  # none usable, or no active slave: the bond carries nothing (SNMP: isolated)
    ABSENT = "absent"  # no bond


def judge(usable: int, expected: int = EXPECTED, *, carrying: bool = True, warned: bool = False) -> Condition:
    """`usable` of `expected` slaves usable; `carrying`: the bond has an active slave and is not
    reported isolated; `warned`: a standing warning on the bond's settings (health only)."""
    if usable == 0 or not carrying:
        return Condition.DOWN
    return Condition.DEGRADED if usable < expected or warned else Condition.OK


@dataclass(frozen=True)
class ConfiguredVf:
    label: str  # the config's (sriov0), stable across renames
    name: str  # its interface name as vfbondd last knew it; "" when it never saw it
    slave: SlaveDict | None  # the kernel's slave entry; None while out of the bond
    verdict: Verdict  # vfbondd's health verdict; missing while out of the bond


def configured(status: Status) -> list[ConfiguredVf]:
    """The configured VFs in config order, present or not."""
    bond = status.get("bond")
    present = {s["link"]["name"]: s for s in bond["slaves"]} if bond else {}
    verdicts = status.get("verdicts") or {}
    found = []
    for spec in status.get("configured") or []:
        slave = present.get(spec["ifname"] or "")
        found.append(ConfiguredVf(spec["label"], spec["ifname"] or "", slave,
                                  verdicts.get(spec["ifname"] or "", Verdict.MISSING) if slave else Verdict.MISSING))
    return found


def _vfbondds(status: KernelStatus) -> TypeGuard[Status]:
    """vfbondd's status carries its verdicts; the kernel's alone (bondctl without vfbondd) does not."""
    return "verdicts" in status


def usable(status: KernelStatus) -> tuple[list[str], int]:
    """The usable slaves' names, and how many slaves the bond has when whole: vfbondd's configured
    VFs with its verdict up; else the bond's slaves with the kernel's MII status up."""
    if _vfbondds(status) and status.get("configured"):
        vfs = configured(status)
        return [vf.name for vf in vfs if vf.verdict == Verdict.UP], len(vfs)
    bond = status.get("bond")
    verdicts = (status.get("verdicts") if _vfbondds(status) else None) or {}
    return [s["link"]["name"] for s in (bond["slaves"] if bond else [])
            if verdicts.get(s["link"]["name"], s["mii_status"]) == Verdict.UP], EXPECTED


def of_status(status: KernelStatus | None, *, warned: bool = False) -> Condition:
    """The condition a status shows (None: no status, no bond)."""
    bond = status.get("bond") if status else None
    if status is None or bond is None:
        return Condition.ABSENT
    up, expected = usable(status)
    carrying = bond["active_slave"] is not None and not (_vfbondds(status) and status.get("isolated"))
    if not up and carrying and on_standby(status):
        return Condition.DEGRADED  # the VM is on the network, over the standby: no isolation (#22)
    return judge(len(up), expected, carrying=carrying, warned=warned)


def on_standby(status: KernelStatus) -> bool:
    """vfbondd says the standby carries the traffic (judge/standby.py)."""
    standby = status.get("standby") if _vfbondds(status) else None
    return bool(standby and standby["on_standby"])
