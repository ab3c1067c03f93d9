"""bondctl doctor on the standby (#22): it is there, it is no VF, its path answers. Facts in, findings out."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.unit.test_doctor import EXAMPLE, Facts, bond, by_check, healthy, vf
from vfbond.config import parse
from vfbond.ctl.doctor import Status
from vfbond.kernel.bond_state import LinkInfo

PV_MAC = "52:54:00:ab:cd:09"
TEXT = EXAMPLE.read_text().replace("enabled: false", "enabled: true").replace(
    "  primary: sriov0\n", f'  primary: sriov0\n  standby: {{mac: "{PV_MAC}"}}\n')
CONFIG = parse(TEXT, str(EXAMPLE))


def pv(**kw: Any) -> LinkInfo:
    return replace(LinkInfo(index=30, name="eth9", mac=PV_MAC, perm_mac=PV_MAC, kind=None, master=100, carrier=True,
                            operstate="UP", mtu=1500, driver="virtio_net", pci_address="0000:00:09.0"), **kw)


def facts(link: LinkInfo | None = None, verdict: str = "up", **kw: Any) -> Facts:
    """A healthy VM whose config names the standby `link` (pv() by default; None: not on the VM)."""
    link = pv() if link is None else link
    vfs = [vf(0), vf(1)]
    enslaved = link.master == 100
    daemon = {"daemon": {"pid": 42, "version": "0.1.0", "config": str(EXAMPLE), "backend": "nm"},
              "probes": "enabled", "verdicts": {"ens6": "up", "ens7": "up", **({"eth9": verdict} if enslaved else {})},
              "standby": {"label": "standby", "ifname": "eth9" if enslaved else None, "role": "standby",
                          "on_standby": False, "on_standby_s": None, "on_standby_total_s": 0.0, "detached": [],
                          "migration": False}}
    return healthy(config=CONFIG, links=[*vfs, link], bond=bond(vfs + ([link] if enslaved else [])), daemon=daemon,
                   slave_addresses={"ens6": [], "ens7": [], "eth9": []}, **kw)


def test_a_healthy_standby_passes_and_is_not_taken_for_a_slave_the_config_does_not_name() -> None:
    found = by_check(facts())
    assert {name: f.status for name, f in found.items() if f.status is not Status.PASS} == {}
    assert found["standby"].message == f"standby = eth9 (mac {PV_MAC}), in bond0"
    assert "virtio_net" in found["standby-driver"].message
    assert "192.0.2.1" in found["standby-path"].message and "eth9" in found["standby-path"].message


def test_without_a_standby_configured_there_is_no_standby_check() -> None:
    assert not {"standby", "standby-driver", "standby-path"} & set(by_check(healthy()))


def test_a_standby_not_on_the_vm_warns_that_a_migration_cuts_the_vm_off() -> None:
    vfs = [vf(0), vf(1)]
    f = by_check(replace(facts(), links=vfs, bond=bond(vfs)))["standby"]
    assert f.status is Status.WARN and f"mac {PV_MAC}" in f.message and "live migration" in f.message
    assert "vnic_type normal" in f.fix and "standby-driver" not in by_check(replace(facts(), links=vfs))


def test_a_standby_outside_the_bond_warns() -> None:
    f = by_check(facts(pv(master=None)))["standby"]
    assert f.status is Status.WARN and f.message == "eth9 (the standby) is not in bond0" and "vfbondd" in f.fix


@pytest.mark.parametrize("driver", ["iavf", "igbvf", "ixgbevf", "i40evf", "mlx5_core"])
def test_a_standby_driven_by_a_vf_driver_fails(driver: str) -> None:
    f = by_check(facts(pv(driver=driver)))["standby-driver"]
    assert f.status is Status.FAIL and driver in f.message and "detaches" in f.message
    assert "paravirtual" in f.fix and "vnic_type normal" in f.fix


def test_a_standby_with_a_physical_function_is_a_vf_whatever_its_driver() -> None:
    f = by_check(facts(pv(driver="some_vf", pf_address="0000:3b:00.0")))["standby-driver"]
    assert f.status is Status.FAIL and "0000:3b:00.0" in f.message


def test_a_dead_standby_path_fails_naming_neutron_port_security_and_the_pair_to_allow() -> None:
    f = by_check(facts(verdict="path_down"))["standby-path"]
    assert f.status is Status.FAIL and "do not answer through the standby eth9" in f.message
    assert "port security" in f.message and "allowed-address-pairs" in f.message
    assert f"--allowed-address ip-address=192.0.2.10,mac-address={PV_MAC}" in f.fix
    assert "2001:db8::10" in f.fix and "--disable-port-security" in f.fix


def test_a_standby_without_carrier_fails_and_one_not_yet_probed_warns() -> None:
    down = by_check(facts(verdict="down"))["standby-path"]
    assert down.status is Status.FAIL and "no carrier" in down.message
    assert by_check(facts(verdict="unknown"))["standby-path"].status is Status.WARN


def test_the_standby_path_is_vfbondds_word_only_with_probes_and_vfbondd_running() -> None:
    off = replace(facts(verdict="path_down"), config=parse(TEXT.replace("enabled: true", "enabled: false")))
    assert "standby-path" not in by_check(off)
    assert "standby-path" not in by_check(replace(facts(verdict="path_down"), daemon=None, daemon_error="no socket"))
