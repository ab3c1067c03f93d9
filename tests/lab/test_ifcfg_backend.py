"""ifcfg backend in the kernel lab: files written into a temp ifcfg_dir, runtime brought to match
through netlink (no `systemctl restart network`), same plan twice leaves the files untouched."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import wait_ping
from pyroute2 import AsyncIPRoute

from vfbond.backends.choose import select_backend
from vfbond.backends.ifcfg import IfcfgBackend
from vfbond.backends.ifcfg_render import parse, render
from vfbond.backends.netlink import NetlinkBackend
from vfbond.config import BondConfig, Config, StandbySpec
from vfbond.config import parse as parse_config
from vfbond.configure.apply import apply_and_verify
from vfbond.kernel.bond_state import read_bond

pytestmark = pytest.mark.lab

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vfbond.yaml"


def example_bond() -> BondConfig:
    return parse_config(EXAMPLE.read_text(), str(EXAMPLE)).bond


class Recorder(list):
    def __call__(self, message: str) -> None:
        self.append(message)




def files(d: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in sorted(d.iterdir())}


async def test_files_written_and_runtime_matches(topology, tmp_path: Path) -> None:
    (tmp_path / "ifcfg-eth1").write_text(f"DEVICE=eth1\nHWADDR={topology.mac(1).upper()}\nBOOTPROTO=dhcp\n")
    config = Config(bond=example_bond(), backend="auto", ifcfg_dir=str(tmp_path))
    said = Recorder()
    async with AsyncIPRoute() as ipr:
        backend, reason = await select_backend(config, ipr)  # no NetworkManager on the bus in this test
        assert backend.name == "ifcfg" and str(tmp_path) in reason
        outcome = await apply_and_verify(backend, config.bond, ipr, said)
        state = await read_bond(ipr, "bond0")
    assert state.fail_over_mac == "active" and [s.name for s in state.slaves] == ["vf0", "vf1"]
    assert state.addresses == ["192.0.2.10/24", "2001:db8::10/64"]
    expected = render(outcome.plan)
    assert {n: (tmp_path / n).read_text() for n in expected} == expected
    bond0 = parse((tmp_path / "ifcfg-bond0").read_text())
    assert "fail_over_mac=active" in bond0["BONDING_OPTS"].split() and bond0["GATEWAY"] == "192.0.2.1"
    assert parse((tmp_path / "ifcfg-vf1").read_text())["HWADDR"] == topology.mac(1)
    # The old file that configured vf1 on its own (DHCP at boot) is moved aside, not deleted.
    assert not (tmp_path / "ifcfg-eth1").exists()
    assert [p.name for p in tmp_path.glob("ifcfg-eth1.vfbond-*.bak")]
    assert await wait_ping(topology)


async def test_same_plan_twice_leaves_files_untouched(topology, tmp_path: Path) -> None:
    bond = example_bond()
    async with AsyncIPRoute() as ipr:
        backend = IfcfgBackend(tmp_path, NetlinkBackend(ipr))
        outcome = await apply_and_verify(backend, bond, ipr, Recorder())
        before = files(tmp_path)
        again = await apply_and_verify(backend, bond, ipr, Recorder())
        assert again.changes == []
        # The backend itself, called with the plan the kernel already matches: no file, no kernel change.
        said = Recorder()
        await backend.apply(outcome.plan, await read_bond(ipr, "bond0"), [], said)
    assert said == []
    assert files(tmp_path) == before


async def test_a_standby_gets_its_file_and_the_lowest_priority_and_is_not_active(topology, tmp_path: Path) -> None:
    """The live-migration standby (issue #22) under the ifcfg backend: a third slave file found by
    MAC, the kernel's slave priority lowest, not the active slave while the VFs are up."""
    bond = replace(example_bond(), standby=StandbySpec(mac=topology.standby_mac))
    async with AsyncIPRoute() as ipr:
        backend = IfcfgBackend(tmp_path, NetlinkBackend(ipr))
        outcome = await apply_and_verify(backend, bond, ipr, Recorder())
        state = await read_bond(ipr, "bond0")
    assert sorted(s.name for s in state.slaves) == sorted(["vf0", "vf1", topology.standby])
    assert state.active_slave == "vf0"
    standby = parse((tmp_path / f"ifcfg-{topology.standby}").read_text())
    assert (standby["MASTER"], standby["HWADDR"]) == ("bond0", topology.standby_mac)
    assert render(outcome.plan).keys() == {p.name for p in tmp_path.iterdir()}
    info = json.loads(subprocess.run(["ip", "-d", "-j", "link", "show", topology.standby], capture_output=True,
                                     text=True, check=True).stdout)[0]
    assert info["linkinfo"]["info_slave_data"].get("prio") in (-1, None), "the standby's priority is not the lowest"
    assert await wait_ping(topology)
