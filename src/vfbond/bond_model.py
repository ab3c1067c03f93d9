"""The bond model: the desired bond (BondPlan) that configure/ builds from the config and every backend
applies, and its difference (Change) from what the kernel has now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vfbond.config import IPConfig
from vfbond.kernel.bond_state import BondState


class PlanError(Exception):
    """The config cannot be mapped onto this machine (a VF is not there); nothing was changed."""


class SlaveNotFound(PlanError):
    """A configured VF is not (yet) on this machine: probed late at boot, or hot-plugged later."""

    def __init__(self, message: str, wanted: str) -> None:
        super().__init__(message)
        self.wanted = wanted  # "sriov1 fa:16:3e:00:00:02": what an apply waits for


@dataclass(frozen=True)
class SlaveBinding:
    label: str
    ifname: str
    mac: str
    role: str = "vf"  # or "standby": the paravirtual port, active only while no VF is usable


@dataclass(frozen=True)
class BondPlan:
    name: str
    miimon: int
    updelay: int
    downdelay: int
    fail_over_mac: str
    primary: str | None  # interface name
    primary_reselect: str
    num_peer_notif: int
    slaves: tuple[SlaveBinding, ...]
    ipv4: IPConfig
    ipv6: IPConfig
    mtu: int | None
    # The configured standby is not on this machine: the bond is built over the VFs alone meanwhile.
    missing_standby: str | None = None

    @property
    def standby(self) -> str | None:
        """The standby's interface name, if it is in the plan."""
        return next((b.ifname for b in self.slaves if b.role == "standby"), None)

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.ipv4.addresses + self.ipv6.addresses

    def options(self) -> dict[str, str]:
        """Kernel bonding option names and values, as sysfs, ifcfg BONDING_OPTS and NM bond.options spell them."""
        opts = {
            "mode": "active-backup",
            "miimon": str(self.miimon),
            "updelay": str(self.updelay),
            "downdelay": str(self.downdelay),
            "fail_over_mac": self.fail_over_mac,
            "primary_reselect": self.primary_reselect,
            "num_grat_arp": str(self.num_peer_notif),
        }
        if self.primary:
            opts["primary"] = self.primary
        return opts


@dataclass(frozen=True)
class Change:
    field: str
    current: Any
    desired: Any
    # Options the kernel only accepts on a bond with no slaves: applying them briefly drops the bond.
    disruptive: bool = False

    def __str__(self) -> str:
        return f"{self.field}: {self.current!r} -> {self.desired!r}" + (" (re-enslaves)" if self.disruptive else "")


def diff(plan: BondPlan, state: BondState | None) -> list[Change]:
    """What must change for the kernel to match the plan; empty when it already does."""
    if state is None:
        return [Change("bond", None, plan.name, disruptive=True)]
    changes = []
    wanted: list[tuple[str, Any, Any, bool]] = [
        ("mode", state.mode, "active-backup", True),
        ("fail_over_mac", state.fail_over_mac, plan.fail_over_mac, True),
        ("miimon", state.miimon, plan.miimon, False),
        ("updelay", state.updelay, plan.updelay, False),
        ("downdelay", state.downdelay, plan.downdelay, False),
        ("primary_reselect", state.primary_reselect, plan.primary_reselect, False),
        ("num_peer_notif", state.num_peer_notif, plan.num_peer_notif, False),
        # vfbondd probes in user space; kernel ARP monitoring would switch off MII monitoring.
        ("arp_interval", state.arp_interval, 0, False),
        ("up", state.link.up, True, False),  # `ip link set bond0 down` by hand
    ]
    if plan.primary:
        wanted.append(("primary", state.primary, plan.primary, False))
    if plan.mtu:
        wanted.append(("mtu", state.link.mtu, plan.mtu, False))
    for name, current, desired, disruptive in wanted:
        if current != desired:
            changes.append(Change(name, current, desired, disruptive))
    have = sorted(s.name for s in state.slaves)
    want = sorted(b.ifname for b in plan.slaves)
    if have != want:
        changes.append(Change("slaves", have, want))
    have_addr = sorted(state.addresses)
    if have_addr != sorted(plan.addresses):
        changes.append(Change("addresses", have_addr, sorted(plan.addresses)))
    return changes
