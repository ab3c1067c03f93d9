"""What an operator must know about a bond's configuration. Pure: a bond reading in, messages out."""

from __future__ import annotations

from vfbond.kernel.bond_state import BondState


def bond_warnings(state: BondState, expected_slaves: int = 2) -> list[str]:
    found = []
    if state.mode != "active-backup":
        found.append(f"mode={state.mode}: VFs need active-backup (no LACP or switch-assisted modes)")
    if state.fail_over_mac != "active":
        found.append(f"fail_over_mac={state.fail_over_mac} on VF slaves: the backup cannot take over "
                     "(the host pins each VF's MAC; spoof-check drops other MACs). Fix: fail_over_mac=active")
    if state.arp_interval:
        found.append(f"kernel ARP monitoring is on (arp_interval={state.arp_interval}), which turns MII "
                     "monitoring off. Fix: arp_interval=0 and let vfbondd probe (probes.enabled)")
    elif not state.miimon:
        found.append("miimon=0 and no ARP monitoring: the kernel never notices a dead slave. Fix: miimon=100")
    if len(state.slaves) < expected_slaves:
        found.append(f"{len(state.slaves)} of {expected_slaves} slaves enslaved: no redundancy")
    for s in state.slaves:
        if s.mac_changed:
            found.append(f"{s.name} carries {s.link.mac}, not its own MAC {s.perm_mac}: spoof-check will drop "
                         "its frames")
        if s.mii_status != "up":
            found.append(f"{s.name} link is {s.mii_status}")
    pfs = {s.link.pf_address for s in state.slaves if s.link.pf_address}
    if len(state.slaves) > 1 and len(pfs) == 1:
        found.append(f"both VFs come from one physical function ({pfs.pop()}): a NIC failure takes both. "
                     "Fix: attach one VF from each NIC (sriov0, sriov1)")
    if state.active_slave is None and state.slaves:
        found.append("no active slave: the bond passes no traffic")
    return found
