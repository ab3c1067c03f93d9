"""Desired bond state from the config: which interface each configured VF (and the standby) is, as a BondPlan."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from vfbond.bond_model import BondPlan, PlanError, SlaveBinding, SlaveNotFound
from vfbond.config import BondConfig, SlaveSpec
from vfbond.kernel.bond_state import UPPER_KINDS, BondState, LinkInfo

log = logging.getLogger("vfbond")


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


def _missing(spec: SlaveSpec, links: list[LinkInfo], path: str) -> str:
    present = ", ".join(f"{x.name} ({x.mac})" for x in links if x.kind not in UPPER_KINDS and x.name != "lo")
    return (f"{path}: no interface matches {spec.label} "
            f"({'mac ' + spec.mac if spec.mac else ''}{' name ' + spec.name if spec.name else ''}); "
            f"present: {present or 'none'}. Fix: check the {'standby' if path == 'bond.standby' else 'VF'} is "
            f"attached to the VM (`ip -br link`) and its MAC in the config")


def build(bond: BondConfig, links: list[LinkInfo], state: BondState | None = None) -> BondPlan:
    """The plan. A VF that is not here is SlaveNotFound: the apply waits for it (probed late, or hot-plugged).
    A missing standby is not: it only matters in a migration, and the VFs' bond must not wait for it;
    it is left out (`missing_standby`) and enslaved when it shows up."""
    bindings: list[SlaveBinding] = []
    missing_standby = None
    for i, spec in enumerate(bond.members):
        standby = bond.is_standby(spec.label)
        path = "bond.standby" if standby else f"bond.slaves[{i}]"
        link = resolve_slave(spec, links, state)
        if link is None:
            if standby:
                missing_standby = f"{spec.label} {spec.mac or spec.name}"
                log.warning("%s", _missing(spec, links, "bond.standby"))
                continue
            raise SlaveNotFound(_missing(spec, links, "bond.slaves"), f"{spec.label} {spec.mac or spec.name}")
        if twin := next((b for b in bindings if b.ifname == link.name), None):
            what = f"the standby and {twin.label} are both {link.name}: the standby would be a VF" if standby else \
                f"{twin.label} and {spec.label} are both {link.name}: a bond over one VF has no backup"
            raise PlanError(f"{path}: {what}. Fix: name each member by its own MAC (`ip -br link` lists them)")
        mac = (known.perm_mac if state and (known := state.slave(link.name)) else None) or _own_mac(link)
        bindings.append(SlaveBinding(spec.label, link.name, mac, "standby" if standby else "vf"))
    primary = next((b.ifname for b in bindings if b.label == bond.primary), None)
    return BondPlan(
        name=bond.name, miimon=bond.miimon, updelay=bond.updelay, downdelay=bond.downdelay,
        fail_over_mac=bond.fail_over_mac, primary=primary, primary_reselect=bond.primary_reselect,
        # The kernel keeps one counter for both (num_grat_arp and num_unsol_na are aliases).
        num_peer_notif=max(bond.num_grat_arp, bond.num_unsol_na),
        slaves=tuple(bindings), ipv4=bond.ipv4, ipv6=bond.ipv6, mtu=bond.mtu, missing_standby=missing_standby,
    )
