"""bond.standby: the optional third member (a paravirtual port) that carries the VM while both VFs are gone."""

from __future__ import annotations

import pytest

from tests.unit.test_config import GOOD, problems
from vfbond import config

STANDBY = GOOD + "  standby: {mac: 52:54:00:ab:cd:09}\n"


def test_no_standby_by_default() -> None:
    assert config.parse(GOOD).bond.standby is None


def test_a_standby_by_mac_gets_the_default_label_and_a_lowercase_mac() -> None:
    bond = config.parse(STANDBY.replace("52:54:00:ab:cd:09", "52:54:00:AB:CD:09")).bond
    assert bond.standby is not None
    assert (bond.standby.label, bond.standby.mac, bond.standby.name) == ("standby", "52:54:00:ab:cd:09", None)
    assert [s.label for s in bond.members] == ["sriov0", "sriov1", "standby"]


def test_a_standby_by_name_with_its_own_label() -> None:
    bond = config.parse(GOOD + "  standby: {name: eth9, label: virtio}\n").bond
    assert bond.standby is not None and (bond.standby.label, bond.standby.name) == ("virtio", "eth9")


def test_two_vfs_are_still_required_with_a_standby() -> None:
    text = "bond:\n  slaves:\n    - mac: fa:16:3e:00:00:01\n  standby: {mac: 52:54:00:ab:cd:09}\n"
    (p,) = problems(text)
    assert "bond.slaves" in p and "exactly two" in p


@pytest.mark.parametrize(("entry", "words"), [
    ("{mac: zz}", "bond.standby.mac"),
    ("{name: 'a b'}", "bond.standby.name"),
    ("{label: 'a b', mac: 52:54:00:ab:cd:09}", "bond.standby.label"),
    ("{}", "bond.standby"),
    ("{mac: 52:54:00:ab:cd:09, colour: red}", "bond.standby.colour"),
    ("{mac: FA:16:3E:00:00:01}", "bond.standby.mac"),
    ("{name: ens7}", "bond.standby.name"),
    ("{label: sriov0, mac: 52:54:00:ab:cd:09}", "bond.standby.label"),
])
def test_every_standby_error_names_the_standby(entry: str, words: str) -> None:
    found = problems(GOOD + f"  standby: {entry}\n")
    assert found, entry
    for p in found:
        assert f": {words}" in p and "standby" in p.split(": ", 2)[2], p


def test_the_standby_cannot_be_primary() -> None:
    (p,) = problems(STANDBY.replace("bond:\n", "bond:\n  primary: standby\n"))
    assert "bond.primary" in p and "standby" in p and "Fix:" in p, p


def test_vf_return_alert_defaults_to_300_s_and_is_range_checked() -> None:
    assert config.parse(GOOD).failover.vf_return_alert_s == 300
    assert config.parse(GOOD + "failover: {vf_return_alert_s: 5}\n").failover.vf_return_alert_s == 5
    (p,) = problems(GOOD + "failover: {vf_return_alert_s: 0}\n")
    assert "failover.vf_return_alert_s" in p and "Fix:" in p
