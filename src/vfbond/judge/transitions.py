"""Turn two readings of the bond into typed events. Pure: data in, events out."""

from __future__ import annotations

from vfbond.judge.condition import Condition, judge
from vfbond.kernel.bond_state import BondState
from vfbond.shared.events import Event, EventType

# MII "fail" is the kernel waiting out downdelay: the slave is still in service until it turns "down".
IN_SERVICE = ("up", "fail")


def _up(state: BondState | None) -> set[str]:
    return {s.name for s in state.slaves if s.mii_status in IN_SERVICE} if state else set()


# Both VFs left the bond and nothing carries the VM: what a live migration does to a bond without a standby.
NO_STANDBY_HINT = ("no slave left in the bond (both VFs detached? a live migration detaches SR-IOV ports): add a "
                   "paravirtual port as bond.standby to carry the VM meanwhile")


def derive(prev: BondState | None, cur: BondState | None, bond: str, primary: str | None,
           expected: int = 2, reason: str = "", standby: str | None = None) -> list[Event]:
    """Events for what changed between two readings.

    `primary` is the configured primary's interface name: a move onto it is a failback.
    `reason` is what the caller knows caused the change (e.g. "simulate-failover"); when
    empty, it is worked out from the slaves' states. `standby`: the standby's interface name;
    the VFs alone count as up, and no VF up while the standby is is no isolation (on_standby says it).
    """
    events: list[Event] = []
    if prev is None and cur is None:
        return events
    if cur is None:
        return [Event(EventType.BOND_ISOLATED, bond, reason=reason or f"{bond} disappeared")]

    before = {s.name: s for s in prev.slaves} if prev else {}
    after = {s.name: s for s in cur.slaves}

    for name in sorted(before.keys() - after.keys()):
        events.append(Event(EventType.SLAVE_MISSING, bond, slave=name,
                            reason=reason or "released from the bond or removed (VF reset or unplug?)"))
    for name in sorted(after.keys() - before.keys()):
        if prev is not None:
            events.append(Event(EventType.SLAVE_RETURNED, bond, slave=name, reason=reason or "enslaved again",
                                details={"mac": after[name].link.mac}))
    for name in sorted(before.keys() & after.keys()):
        old, new = before[name].mii_status, after[name].mii_status
        if old != "down" and new == "down":
            # ifindex: IF-MIB linkDown/linkUp traps need it, and the VF may be gone by the time they are sent.
            events.append(Event(EventType.SLAVE_DOWN, bond, slave=name, reason=reason or "carrier lost",
                                details={"link_failure_count": after[name].link_failure_count,
                                         "ifindex": after[name].link.index}))
        elif old == "down" and new == "up":
            events.append(Event(EventType.SLAVE_UP, bond, slave=name, reason=reason or "carrier back",
                                details={"ifindex": after[name].link.index}))
    for name, slave in sorted(after.items()):
        was_changed = before[name].mac_changed if name in before else False
        if slave.mac_changed and not was_changed:
            events.append(Event(EventType.MAC_CHANGED, bond, slave=name,
                                reason=f"carries {slave.link.mac}, its own MAC is {slave.perm_mac}: "
                                       "spoof-check will drop its frames",
                                details={"mac": slave.link.mac, "perm_mac": slave.perm_mac}))

    old_active = prev.active_slave if prev else None
    if prev is not None and cur.active_slave != old_active:
        if cur.active_slave is None:
            pass  # no active slave: reported below as isolation
        else:
            kind = EventType.FAILBACK if primary and cur.active_slave == primary and old_active else EventType.FAILOVER
            why = reason or _why(prev, cur, old_active)
            events.append(Event(kind, bond, old_active=old_active, new_active=cur.active_slave, reason=why))

    if prev is not None:
        events += _condition_events(prev, cur, bond, expected, reason, standby)
    return events


def _condition_events(prev: BondState, cur: BondState, bond: str, expected: int, reason: str,
                      standby: str | None) -> list[Event]:
    """The bond's condition (condition.py) from the VFs in service, when it changed. The standby
    carrying the VM while no VF is up is no isolation: judge/standby.py reports it (on_standby)."""
    up = _up(cur) - {standby}
    before, after = judge(len(_up(prev) - {standby}), expected), judge(len(up), expected)
    if after == before:
        return []
    if after == Condition.DOWN:
        if standby in _up(cur):
            return []
        return [Event(EventType.BOND_ISOLATED, bond, reason=reason or (
            "no slave has link" if cur.slaves else NO_STANDBY_HINT))]
    if after == Condition.DEGRADED:
        return [Event(EventType.BOND_DEGRADED, bond, reason=f"{len(up)} of {expected} slaves up",
                      details={"up": sorted(up)})]
    return [Event(EventType.BOND_RESTORED, bond, reason=f"{len(up)} of {expected} slaves up")]


def _why(prev: BondState, cur: BondState, old_active: str | None) -> str:
    if old_active is None:
        return "first slave became active"
    old = cur.slave(old_active)
    if old is None:
        return f"{old_active} left the bond"
    if old.mii_status != "up":
        return f"carrier loss on {old_active}"
    return "kernel reselection"
