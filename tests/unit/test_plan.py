"""The plan maps the config's slaves onto this machine's interfaces."""

from __future__ import annotations

import pytest

from vfbond import config
from vfbond.bond_model import PlanError
from vfbond.configure.plan import build
from vfbond.kernel.bond_state import LinkInfo


def link(index: int, name: str, mac: str, kind: str | None = None) -> LinkInfo:
    return LinkInfo(index=index, name=name, mac=mac, perm_mac=None, kind=kind, master=None, carrier=True,
                    operstate="UP", mtu=1500)


LINKS = [link(1, "lo", "00:00:00:00:00:00"), link(6, "ens6", "fa:16:3e:00:00:01"), link(7, "ens7", "fa:16:3e:00:00:02")]


def test_slaves_bind_by_mac_and_by_name() -> None:
    bond = config.parse("bond:\n  slaves:\n    - mac: fa:16:3e:00:00:01\n    - name: ens7\n").bond
    assert [(b.label, b.ifname) for b in build(bond, LINKS).slaves] == [("sriov0", "ens6"), ("sriov1", "ens7")]


def test_two_slaves_that_resolve_to_one_interface_are_refused() -> None:
    """One by MAC, one by name: the config cannot see that both are ens6; the plan can."""
    bond = config.parse("bond:\n  slaves:\n    - mac: fa:16:3e:00:00:01\n    - name: ens6\n").bond
    with pytest.raises(PlanError) as info:
        build(bond, LINKS)
    text = str(info.value)
    assert text.startswith("bond.slaves[1]: ") and "sriov0 and sriov1 are both ens6" in text
    assert ". Fix: " in text


STANDBY_LINKS = [*LINKS, link(9, "eth9", "52:54:00:ab:cd:09")]
WITH_STANDBY = "bond:\n  slaves:\n    - mac: fa:16:3e:00:00:01\n    - mac: fa:16:3e:00:00:02\n" \
               "  primary: sriov0\n  standby: {mac: 52:54:00:ab:cd:09}\n"


def test_the_standby_is_a_third_binding_with_its_role_after_the_vfs() -> None:
    plan = build(config.parse(WITH_STANDBY).bond, STANDBY_LINKS)
    assert [(b.label, b.ifname, b.role) for b in plan.slaves] == [
        ("sriov0", "ens6", "vf"), ("sriov1", "ens7", "vf"), ("standby", "eth9", "standby")]
    assert plan.standby == "eth9" and plan.primary == "ens6"


def test_a_missing_standby_leaves_the_bond_to_the_vfs() -> None:
    """The standby only matters in a migration: the VFs' bond never waits for it (a VF it would)."""
    plan = build(config.parse(WITH_STANDBY).bond, LINKS)
    assert [b.ifname for b in plan.slaves] == ["ens6", "ens7"] and plan.standby is None
    assert plan.missing_standby == "standby 52:54:00:ab:cd:09"


def test_a_standby_that_resolves_to_a_vf_is_refused() -> None:
    bond = config.parse(WITH_STANDBY.replace("{mac: 52:54:00:ab:cd:09}", "{name: ens7}")).bond
    with pytest.raises(PlanError) as info:
        build(bond, LINKS)
    assert str(info.value).startswith("bond.standby: ") and "standby and sriov1 are both ens7" in str(info.value)

