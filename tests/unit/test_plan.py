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
