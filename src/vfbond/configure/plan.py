"""Desired bond state from the config, and its difference from what the kernel has now."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vfbond.config import BondConfig, IPConfig, SlaveSpec
from vfbond.kernel.inspect import BondState, LinkInfo

# Upper devices carry a slave's MAC (a bond with fail_over_mac=none, a VLAN): never take them for a VF.
UPPER_KINDS = {"bond", "bridge", "vlan", "macvlan", "macvtap", "ipvlan", "team", "vxlan"}


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


def _own_mac(link: LinkInfo) -> str:
    return (link.perm_mac or link.mac).lower()


def resolve_slave(spec: SlaveSpec, links: Iterable[LinkInfo], bond_state: BondState | None = None) -> LinkInfo | None:
    """The interface this spec names: by MAC (the VF's own, even if a bond rewrote it) or by name."""
    candidates = [link for link in links if link.kind not in UPPER_KINDS]
    remembered = {s.name: s.perm_mac for s in bond_state.slaves} if bond_state else {}
    for link in candidates:
        own = remembered.get(link.name) or _own_mac(link)
        if spec.mac and spec.mac not in (own, link.mac.lower()):
            continue
        if spec.name and spec.name != link.name:
            continue
        return link
    return None


def build(bond: BondConfig, links: list[LinkInfo], state: BondState | None = None) -> BondPlan:
    bindings: list[SlaveBinding] = []
    for i, spec in enumerate(bond.slaves):
        link = resolve_slave(spec, links, state)
        if link is None:
            present = ", ".join(f"{x.name} ({x.mac})" for x in links if x.kind not in UPPER_KINDS and x.name != "lo")
            raise SlaveNotFound(f"bond.slaves: no interface matches {spec.label} "
                            f"({'mac ' + spec.mac if spec.mac else ''}{' name ' + spec.name if spec.name else ''}); "
                            f"present: {present or 'none'}. Fix: check the VF is attached to the VM "
                            f"(`ip -br link`) and its MAC in the config",
                                f"{spec.label} {spec.mac or spec.name}")
        if twin := next((b for b in bindings if b.ifname == link.name), None):
            raise PlanError(f"bond.slaves[{i}]: {twin.label} and {spec.label} are both {link.name}: a bond over one "
                            f"VF has no backup. Fix: name each VF by its own MAC (`ip -br link` lists them)")
        mac = (known.perm_mac if state and (known := state.slave(link.name)) else None) or _own_mac(link)
        bindings.append(SlaveBinding(spec.label, link.name, mac))
    primary = next((b.ifname for b in bindings if b.label == bond.primary), None)
    return BondPlan(
        name=bond.name, miimon=bond.miimon, updelay=bond.updelay, downdelay=bond.downdelay,
        fail_over_mac=bond.fail_over_mac, primary=primary, primary_reselect=bond.primary_reselect,
        # The kernel keeps one counter for both (num_grat_arp and num_unsol_na are aliases).
        num_peer_notif=max(bond.num_grat_arp, bond.num_unsol_na),
        slaves=tuple(bindings), ipv4=bond.ipv4, ipv6=bond.ipv6, mtu=bond.mtu,
    )


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
