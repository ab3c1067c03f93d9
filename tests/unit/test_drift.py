"""Which readings of the bond look changed by someone else: they ask the reconciler for a pass."""

from dataclasses import replace

from tests.unit.test_supervisor import bond, link
from vfbond.judge.drift import drifted


def test_running_state_is_not_drift() -> None:
    assert drifted(bond("vf0"), bond("vf1", up0=False)) is None  # a failover: carriers and the active slave
    assert drifted(None, bond("vf0")) is None  # the first reading, or the bond just made


def test_shape_changes_by_hand_are() -> None:
    assert drifted(bond("vf0"), None) == "bond0 is gone"
    down = replace(bond("vf0"), link=replace(link("bond0", "fa:16:3e:00:00:01", 9), up=False))
    assert drifted(bond("vf0"), down) == "bond0 was set down"
    released = replace(bond("vf0"), slaves=bond("vf0").slaves[:1])
    assert drifted(bond("vf0"), released) is None  # the supervisor's re-enslave answers that, alone
    assert drifted(bond("vf0"), replace(bond("vf0"), miimon=5000, primary_reselect="failure")) == \
        "bond0: miimon 100 -> 5000, primary_reselect always -> failure"
