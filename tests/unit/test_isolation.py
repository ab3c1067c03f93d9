"""The isolation state: raised by the kernel's view or by the probes, reported once, lowered on evidence."""

from __future__ import annotations

from vfbond.shared.events import Event, EventType
from vfbond.supervise.isolation import Isolation


def event(kind: EventType) -> Event:
    return Event(kind, "bond0", reason="x")


def test_an_isolation_is_reported_once_and_a_degraded_bond_with_a_usable_slave_lowers_it() -> None:
    iso = Isolation()
    assert iso.admit(event(EventType.BOND_ISOLATED), lambda: False) and iso.reported
    assert not iso.admit(event(EventType.BOND_ISOLATED), lambda: False)  # the probes say it again: once is enough
    assert iso.admit(event(EventType.BOND_DEGRADED), lambda: False) and iso.reported  # no usable slave yet
    assert iso.admit(event(EventType.BOND_DEGRADED), lambda: True) and not iso.reported
    assert iso.admit(event(EventType.BOND_ISOLATED), lambda: False)  # a new isolation is news again


def test_the_probes_lower_only_what_they_raised_and_say_restored_only_if_it_still_stands() -> None:
    iso = Isolation()
    assert iso.probed(False, lambda: True) is None  # the probes never raised it: nothing to lower
    assert iso.probed(True, lambda: False) is EventType.BOND_ISOLATED
    iso.admit(event(EventType.BOND_ISOLATED), lambda: False)
    assert iso.probed(True, lambda: False) is None  # still isolated: said once
    assert iso.probed(False, lambda: False) is None  # no longer known bad is not evidence
    assert iso.probed(False, lambda: True) is EventType.BOND_RESTORED and not iso.by_probes
    iso.admit(event(EventType.BOND_RESTORED), lambda: True)
    assert not iso.reported
    # raised by the probes, then lowered by a degraded event with a usable slave: no second "restored"
    assert iso.probed(True, lambda: False) is EventType.BOND_ISOLATED
    iso.admit(event(EventType.BOND_ISOLATED), lambda: False)
    iso.admit(event(EventType.BOND_DEGRADED), lambda: True)
    assert iso.probed(False, lambda: True) is None and not iso.by_probes
