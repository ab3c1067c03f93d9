"""vfbondd's status as pollers see it: each configured VF joined with its slave entry and verdict, and
the bond's condition. The SNMP tables and the Prometheus metrics both read it from here."""

from __future__ import annotations

from dataclasses import dataclass

from vfbond.shared.status import SlaveDict, Status, Verdict


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


def condition(status: Status) -> str:
    """up, degraded (some configured VF not healthy), isolated (none healthy) or absent (no bond)."""
    if not status.get("bond"):
        return "absent"
    verdicts = [vf.verdict for vf in configured(status)]
    healthy = verdicts.count(Verdict.UP)
    if healthy == 0 or status.get("isolated"):
        return "isolated"
    return "up" if healthy == len(verdicts) else "degraded"
