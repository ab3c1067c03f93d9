"""Running on the standby and the live-migration pattern, as events (judge/standby.py)."""

from __future__ import annotations

from vfbond.judge.standby import StandbyTracker
from vfbond.shared.events import EventType

VFS = {"sriov0": "fa:16:3e:00:00:01", "sriov1": "fa:16:3e:00:00:02"}
UP = {"sriov0": "up", "sriov1": "up"}


def tracker(alert_after: float = 300.0) -> StandbyTracker:
    t = StandbyTracker("bond0", VFS, "standby", alert_after)
    assert t.reading("ens6", "vf", UP, 0.0) == []
    return t


def test_both_vfs_down_puts_the_bond_on_the_standby_and_a_vf_takes_it_back() -> None:
    t = tracker()
    [on] = t.reading("pv0", "standby", {"sriov0": "down", "sriov1": "down"}, 10.0)
    assert on.type is EventType.ON_STANDBY and on.details["why"] == "down" and "without carrier" in on.reason
    assert t.reading("pv0", "standby", {"sriov0": "down", "sriov1": "down"}, 11.0) == []  # once
    assert t.status(12.0)["on_standby_s"] == 2.0
    [off] = t.reading("ens6", "vf", {"sriov0": "up", "sriov1": "down"}, 14.5)
    assert off.type is EventType.OFF_STANDBY and off.details["on_standby_s"] == 4.5 and off.new_active == "ens6"
    assert t.status(15.0)["on_standby"] is False and t.status(15.0)["on_standby_total_s"] == 4.5


def test_dead_paths_with_carrier_are_named_as_such() -> None:
    [on] = tracker().reading("pv0", "standby", {"sriov0": "path_down", "sriov1": "up"}, 1.0)
    assert on.details["why"] == "unusable"


def migrate(t: StandbyTracker) -> list:
    events = t.vf_detached("sriov0", "ens6", 10.0)
    events += t.reading("ens7", "vf", {"sriov1": "up"}, 10.1)
    events += t.vf_detached("sriov1", "ens7", 12.6)
    events += t.reading("pv0", "standby", {}, 12.7)
    return events


def test_a_live_migration_is_one_detached_attached_pair_with_its_figures() -> None:
    t = tracker()
    detached, on = migrate(t)
    assert detached.type is EventType.MIGRATION_DETACHED and "2.6 s" in detached.reason
    assert on.type is EventType.ON_STANDBY and on.details["why"] == "detached"
    t.vf_attached("sriov1", "ens7", 18.0)
    [off] = t.reading("ens7", "vf", {"sriov1": "up"}, 18.5)  # the first VF back carries at once
    assert off.type is EventType.OFF_STANDBY
    t.vf_attached("sriov0", "eth0", 19.9)  # the kernel's name first ...
    t.vf_attached("sriov0", "ens9", 20.0)  # ... then udev's: renamed
    [attached] = t.reading("ens7", "vf", {"sriov0": "up", "sriov1": "up"}, 20.1)
    assert attached.type is EventType.MIGRATION_ATTACHED
    assert attached.details["vfs_back_s"] == 10.1 and attached.details["outage_on_vfs_s"] == 5.8
    assert attached.details["on_standby_s"] == 5.8 and attached.details["renamed"] is True
    assert attached.details["names"] == {"sriov0": {"old": "ens6", "new": "ens9"}}
    assert t.alert_at is None and t.overdue(1000.0) == []


def test_one_vf_unplugged_is_no_migration() -> None:
    t = tracker()
    assert t.vf_detached("sriov0", "ens6", 10.0) == []
    t.vf_attached("sriov0", "ens6", 20.0)
    assert t.vf_detached("sriov1", "ens7", 60.0) == []  # the other, much later: not both at once


def test_vfs_that_do_not_come_back_raise_one_alert_naming_the_missing_macs() -> None:
    t = tracker(alert_after=30.0)
    migrate(t)
    t.vf_attached("sriov0", "ens6", 15.0)
    t.reading("ens6", "vf", {"sriov0": "up"}, 15.5)
    assert t.alert_at == 40.0 and t.overdue(39.9) == []
    [alert] = t.overdue(40.0)
    assert alert.type is EventType.VFS_NOT_RETURNED and alert.details["missing"] == ["fa:16:3e:00:00:02"]
    assert "fa:16:3e:00:00:02" in alert.reason and "fa:16:3e:00:00:01" not in alert.reason
    assert t.overdue(80.0) == []


def test_the_migration_ends_when_both_vfs_are_enslaved_under_the_names_udev_gave_them() -> None:
    """The lab's run: the second VF's first message names it eth0; its rename comes before it is
    enslaved (the re-enslave waits for udev), so the pair must not close on a reading without it."""
    t = tracker()
    migrate(t)
    t.vf_attached("sriov1", "ens17", 18.0)
    assert [e.type for e in t.reading("ens17", "vf", {"sriov1": "up"}, 18.5)] == [EventType.OFF_STANDBY]
    t.vf_attached("sriov0", "eth0", 19.9)  # back in the VM, not yet renamed nor enslaved
    assert t.reading("ens17", "vf", {"sriov1": "up"}, 20.0) == []
    t.vf_attached("sriov0", "ens16", 20.5)
    [attached] = t.reading("ens17", "vf", {"sriov0": "up", "sriov1": "up"}, 21.0)
    assert attached.details["names"]["sriov0"]["new"] == "ens16"


def test_the_vfs_not_returned_are_listed_from_the_alert_until_they_are_back() -> None:
    """What the vfs_not_returned gauge (and its alert) reads: nothing before the alert, the missing MACs after."""
    t = tracker(alert_after=30.0)
    migrate(t)
    assert t.not_returned == []  # detached, not overdue yet
    t.overdue(40.0)
    assert t.not_returned == ["fa:16:3e:00:00:01", "fa:16:3e:00:00:02"]
    t.vf_attached("sriov1", "ens7", 45.0)
    assert t.not_returned == ["fa:16:3e:00:00:01"]
    t.vf_attached("sriov0", "ens6", 50.0)
    assert t.not_returned == []
