"""Has someone else changed the bond? A cheap look at two readings, to decide whether the
reconciler should compare the whole desired state with the kernel now. Pure: data in, text out.

The reconciler's pass (configure/apply.py's diff, plus what a backend keeps in files or
profiles) is the authority; this only says when a pass is worth running, so a slow timer is not
the only way drift is noticed.
"""

from __future__ import annotations

from vfbond.kernel.bond_state import BondState

# Options a hand can change with `ip link set bond0 type bond ...` (mode and fail_over_mac need
# the slaves released first, which shows as the slaves leaving).
_OPTIONS = ("mode", "miimon", "updelay", "downdelay", "fail_over_mac", "primary", "primary_reselect",
            "num_peer_notif", "arp_interval")


def drifted(prev: BondState | None, cur: BondState | None) -> str | None:
    """What changed in the bond's shape between two readings, or None when only its running state
    (carriers, the active slave, MII states) moved."""
    if cur is None:
        return None if prev is None else f"{prev.name} is gone"
    if prev is None:
        return None  # the first reading, or the bond (re)created: the pass that made it verifies it
    if prev.link.up and not cur.link.up:
        return f"{cur.name} was set down"
    # A slave leaving is not asked about here: a VF unplugged, reset or released by hand comes back
    # through the supervisor's re-enslave, which says so; a pass as well would race it for the same
    # VF. The slow timer's pass is the backstop.
    changed = [f"{name} {getattr(prev, name)} -> {getattr(cur, name)}" for name in _OPTIONS
               if getattr(prev, name) != getattr(cur, name)]
    if cur.link.mtu != prev.link.mtu:
        changed.append(f"mtu {prev.link.mtu} -> {cur.link.mtu}")
    if sorted(prev.addresses) != sorted(cur.addresses):
        changed.append("addresses changed")
    return f"{cur.name}: " + ", ".join(changed) if changed else None
