"""NetworkManager backend: a VF replaced in the config leaves the bond inside the checkpoint (#12 item 8)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ip_batch, run, wait_ping, wait_until
from pyroute2 import AsyncIPRoute

from vfbond.backends.nm import NMBackend
from vfbond.config import SlaveSpec, parse
from vfbond.configure.apply import apply_and_verify
from vfbond.kernel.bond_state import read_bond

pytestmark = pytest.mark.lab

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vfbond.yaml"
MAC2 = "fa:16:3e:00:00:03"


def log(message: str) -> None:
    print(message)


async def test_a_slave_replaced_in_the_config_is_released_and_the_new_one_enslaved(topology, networkmanager) -> None:
    # A third VF on the same switch, as when Nova gives the VM a new port in place of the old one.
    ip_batch([f"link add vf2 address {MAC2} type veth peer name sw2 netns {topology.ns}"])
    ip_batch(["link set sw2 master br0", "link set sw2 up"], ns=topology.ns)
    run(["udevadm", "settle", "--timeout=30"], check=False, timeout=40)
    try:
        for vf in (*topology.vfs, "vf2"):
            networkmanager.nmcli("device", "set", vf, "managed", "yes")
        for vf in (*topology.vfs, "vf2"):
            wait_until(lambda vf=vf: not networkmanager.nmcli("-g", "GENERAL.STATE", "device", "show", vf)
                       .startswith("10 "), 30, 0.2, f"NetworkManager to manage {vf}")
        bond = parse(EXAMPLE.read_text(), str(EXAMPLE)).bond
        backend = NMBackend()
        try:
            async with AsyncIPRoute() as ipr:
                await apply_and_verify(backend, bond, ipr, log)
                replaced = replace(bond, slaves=(bond.slaves[0], SlaveSpec(label="sriov1", mac=MAC2)))
                outcome = await apply_and_verify(backend, replaced, ipr, log)
                state = await read_bond(ipr, "bond0")
                assert [c.field for c in outcome.changes if c.field == "slaves"] == ["slaves"]
                assert state is not None and [s.name for s in state.slaves] == ["vf0", "vf2"]
                assert await wait_ping(topology), "gateway unreachable after the replacement"
                assert not Path("/sys/class/net/vf1/master").exists(), "the replaced VF is still enslaved"
        finally:
            await backend.close()
    finally:
        run("ip link del vf2", check=False)
