from dataclasses import replace

from vfbond.judge.transitions import derive
from vfbond.kernel.bond_state import BondState, LinkInfo, SlaveState
from vfbond.shared.events import EventType


def link(name: str, mac: str, index: int = 1) -> LinkInfo:
    return LinkInfo(index=index, name=name, mac=mac, perm_mac=None, kind="veth", master=9, carrier=True,
                    operstate="UP", mtu=1500)


def slave(name: str, mac: str, mii: str = "up", state: str = "backup") -> SlaveState:
    return SlaveState(link=link(name, mac), state=state, mii_status=mii, link_failure_count=0, perm_mac=mac)


def bond(active: str | None, *slaves: SlaveState) -> BondState:
    return BondState(link=link("bond0", "fa:16:3e:00:00:01", 9), mode="active-backup", active_slave=active,
                     miimon=100, updelay=0, downdelay=0, fail_over_mac="active", primary="vf0",
                     primary_reselect="always", arp_interval=0, arp_ip_targets=[], num_peer_notif=1,
                     slaves=list(slaves))


VF0, VF1 = slave("vf0", "fa:16:3e:00:00:01"), slave("vf1", "fa:16:3e:00:00:02")


def types(events) -> list[EventType]:
    return [e.type for e in events]


def test_no_change_no_event() -> None:
    assert derive(bond("vf0", VF0, VF1), bond("vf0", VF0, VF1), "bond0", "vf0") == []


def test_carrier_loss_failover_degraded() -> None:
    after = bond("vf1", replace(VF0, mii_status="down"), VF1)
    events = derive(bond("vf0", VF0, VF1), after, "bond0", "vf0")
    assert types(events) == [EventType.SLAVE_DOWN, EventType.FAILOVER, EventType.BOND_DEGRADED]
    failover = events[1]
    assert (failover.old_active, failover.new_active, failover.reason) == ("vf0", "vf1", "carrier loss on vf0")


def test_return_to_primary_is_failback_and_restored() -> None:
    before = bond("vf1", replace(VF0, mii_status="down"), VF1)
    events = derive(before, bond("vf0", VF0, VF1), "bond0", "vf0", reason="")
    assert types(events) == [EventType.SLAVE_UP, EventType.FAILBACK, EventType.BOND_RESTORED]


def test_given_reason_wins() -> None:
    events = derive(bond("vf0", VF0, VF1), bond("vf1", VF0, VF1), "bond0", "vf0", reason="simulate-failover")
    assert types(events) == [EventType.FAILOVER] and events[0].reason == "simulate-failover"


def test_vf_unplugged_and_returned() -> None:
    gone = derive(bond("vf1", VF0, VF1), bond("vf1", VF1), "bond0", "vf0")
    assert types(gone) == [EventType.SLAVE_MISSING, EventType.BOND_DEGRADED]
    back = derive(bond("vf1", VF1), bond("vf1", slave("ens9", "fa:16:3e:00:00:01"), VF1), "bond0", "vf0")
    assert types(back) == [EventType.SLAVE_RETURNED, EventType.BOND_RESTORED]
    assert back[0].slave == "ens9"


def test_both_down_is_isolated() -> None:
    after = bond("vf0", replace(VF0, mii_status="down"), replace(VF1, mii_status="down"))
    assert EventType.BOND_ISOLATED in types(derive(bond("vf0", VF0, VF1), after, "bond0", "vf0"))


def test_mac_changed_under_us_reported_once() -> None:
    changed = replace(VF1, link=replace(VF1.link, mac="02:00:00:00:00:99"))
    first = derive(bond("vf0", VF0, VF1), bond("vf0", VF0, changed), "bond0", "vf0")
    assert types(first) == [EventType.MAC_CHANGED] and "spoof-check" in first[0].reason
    assert derive(bond("vf0", VF0, changed), bond("vf0", VF0, changed), "bond0", "vf0") == []


def test_bond_disappears() -> None:
    assert types(derive(bond("vf0", VF0, VF1), None, "bond0", "vf0")) == [EventType.BOND_ISOLATED]


def test_a_slave_inside_downdelay_is_still_in_service() -> None:
    """MII 'fail' is the kernel waiting out downdelay: the slave still carries traffic, nothing degraded."""
    failing = bond("vf0", replace(VF0, mii_status="fail"), VF1)
    assert derive(bond("vf0", VF0, VF1), failing, "bond0", "vf0") == []
    assert derive(failing, bond("vf0", VF0, VF1), "bond0", "vf0") == []


PV0 = slave("pv0", "52:54:00:ab:cd:09")


def test_the_standby_is_not_counted_as_a_vf_and_carrying_on_it_is_no_isolation() -> None:
    one_gone = derive(bond("vf0", VF0, VF1, PV0), bond("vf1", VF1, PV0), "bond0", "vf0", standby="pv0")
    assert types(one_gone) == [EventType.SLAVE_MISSING, EventType.FAILOVER, EventType.BOND_DEGRADED]
    both_gone = derive(bond("vf1", VF1, PV0), bond("pv0", PV0), "bond0", "vf0", standby="pv0")
    assert types(both_gone) == [EventType.SLAVE_MISSING, EventType.FAILOVER]


def test_both_vfs_gone_without_a_standby_is_isolation_with_the_hint() -> None:
    events = derive(bond("vf1", VF1), bond(None), "bond0", "vf0")
    assert types(events) == [EventType.SLAVE_MISSING, EventType.BOND_ISOLATED]
    assert "bond.standby" in events[1].reason and "live migration" in events[1].reason
