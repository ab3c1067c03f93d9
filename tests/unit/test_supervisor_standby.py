"""The supervisor with a standby: the fast path's choice, the events it reports, its status."""

from __future__ import annotations

import time
from dataclasses import replace

from tests.unit.test_supervisor import FakeExecutor, Fired, bond, config, link, supervisor
from vfbond.kernel.bond_state import BondState, SlaveState
from vfbond.shared.events import Event, EventType
from vfbond.supervise.supervisor import Supervisor
from vfbond.watch.links import LinkEvent

PV_MAC = "52:54:00:ab:cd:09"
STANDBY = f'standby: {{mac: "{PV_MAC}"}}'


def with_standby(state: BondState, active: str | None = None, up: bool = True) -> BondState:
    pv0 = SlaveState(link("pv0", PV_MAC, 3, up), "backup", "up" if up else "down", 0, PV_MAC)
    return replace(state, slaves=[*state.slaves, pv0], active_slave=active or state.active_slave)


def started() -> tuple[Supervisor, FakeExecutor, list[Event], Fired]:
    fast = Fired()
    sup, fake, published = supervisor(config(STANDBY), started=False, fastswitch=fast)
    fake.read(with_standby(bond("vf0")))
    published.clear()
    return sup, fake, published, fast


async def test_the_fast_path_never_arms_the_standby_while_the_other_vf_is_usable() -> None:
    sup, fake, _, fast = started()
    assert fast.plan is not None and fast.plan.target_name == "vf1"
    fake.read(with_standby(bond("vf0", up1=False)))  # vf1 lost carrier: only the standby is left
    assert fast.plan is not None and fast.plan.target_name == "pv0" and "standby" in fast.plan.reason
    fake.read(with_standby(bond("vf0", up1=False), up=False))  # the standby too: nowhere to go
    assert fast.plan is None


def gone(name: str, mac: str, index: int) -> LinkEvent:
    return LinkEvent(gone=True, index=index, name=name, mac=mac, carrier=False, operstate="DOWN", master=None,
                     kind=None, at=time.monotonic())


async def test_both_vfs_detached_is_a_migration_on_the_standby_and_status_shows_the_time_on_it() -> None:
    sup, fake, published, _ = started()
    vf0, vf1 = bond("vf0").slaves
    await sup.on_link(gone("vf0", vf0.perm_mac, 1))
    fake.read(with_standby(replace(bond("vf1"), slaves=[vf1])))
    await sup.on_link(gone("vf1", vf1.perm_mac, 2))
    fake.read(with_standby(replace(bond(None), slaves=[]), active="pv0"))
    kinds = [e.type for e in published]
    assert EventType.MIGRATION_DETACHED in kinds and EventType.ON_STANDBY in kinds
    assert EventType.BOND_ISOLATED not in kinds
    [on] = [e for e in published if e.type is EventType.ON_STANDBY]
    assert on.details["why"] == "detached"
    status = sup.status()["standby"]
    assert status["ifname"] == "pv0" and status["on_standby"] is True and status["on_standby_s"] >= 0
    assert status["detached"] == ["sriov0", "sriov1"]


def test_status_has_no_standby_without_one() -> None:
    sup, _, _ = supervisor()
    assert sup.status()["standby"] is None


async def test_status_lists_the_vfs_not_returned_with_a_standby_or_without() -> None:
    for extra in (STANDBY, ""):
        sup, fake, _ = supervisor(config(extra), started=False)
        fake.read(bond("vf0"))
        vf0, vf1 = bond("vf0").slaves
        await sup.on_link(gone("vf0", vf0.perm_mac, 1))
        await sup.on_link(gone("vf1", vf1.perm_mac, 2))
        assert sup.status()["vfs_not_returned"] == []
        sup.standby.tracker.overdue(time.monotonic() + sup.config.failover.vf_return_alert_s)
        assert sup.status()["vfs_not_returned"] == sorted([vf0.perm_mac, vf1.perm_mac]), extra
        sup.standby.close()


async def test_a_vf_renamed_by_udev_after_its_return_is_reported_under_its_final_name() -> None:
    sup, fake, published, _ = started()
    vf0, vf1 = bond("vf0").slaves
    await sup.on_link(gone("vf0", vf0.perm_mac, 1))
    await sup.on_link(gone("vf1", vf1.perm_mac, 2))
    fake.read(with_standby(replace(bond(None), slaves=[]), active="pv0"))
    for name in ("eth0", "ens16"):  # the kernel's name, then udev's
        await sup.on_link(replace(gone(name, vf0.perm_mac, 11), gone=False, carrier=True, master=None))
    for name in ("eth0", "ens17"):
        await sup.on_link(replace(gone(name, vf1.perm_mac, 12), gone=False, carrier=True, master=None))
    moved = replace(bond("ens16"), slaves=[replace(s, link=replace(s.link, name=n))
                                           for s, n in zip(bond("ens16").slaves, ("ens16", "ens17"), strict=True)])
    fake.read(with_standby(moved))
    [attached] = [e for e in published if e.type is EventType.MIGRATION_ATTACHED]
    assert attached.details["names"] == {"sriov0": {"old": "vf0", "new": "ens16"},
                                         "sriov1": {"old": "vf1", "new": "ens17"}}


async def test_the_bond_carrying_a_vfs_mac_is_not_taken_for_that_vf() -> None:
    """fail_over_mac=active: bond0 has the active VF's MAC, and its own link events say so (lab: 'bond0' was
    reported as the name sriov1 came back under)."""
    sup, fake, published, _ = migrated()
    await sup.on_link(replace(gone("bond0", bond("vf0").slaves[1].perm_mac, 9), gone=False, kind="bond", master=None))
    fake.read(with_standby(bond("vf0")))
    [attached] = [e for e in published if e.type is EventType.MIGRATION_ATTACHED]
    assert attached.details["names"] == {}, attached.details


def migrated() -> tuple[Supervisor, FakeExecutor, list[Event], Fired]:
    """Both VFs detached and back under their old names, the bond still on the standby."""
    sup, fake, published, fast = started()
    vf0, vf1 = bond("vf0").slaves
    members = (("vf0", vf0.perm_mac, 1, "sriov0"), ("vf1", vf1.perm_mac, 2, "sriov1"))
    for name, mac, index, label in members:
        sup.standby.on_link(gone(name, mac, index), label)
    fake.read(with_standby(replace(bond(None), slaves=[]), active="pv0"))
    for name, mac, index, label in members:
        sup.standby.on_link(replace(gone(name, mac, index), gone=False), label)
    return sup, fake, published, fast
