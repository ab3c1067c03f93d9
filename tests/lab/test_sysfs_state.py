"""The sysfs reader (bondctl's, without vfbondd) against the netlink reader (vfbondd's) on a real bond
over both topologies: the same BondState, healthy and after a failover, and the same verdict from
`bondctl health` without vfbondd. The two may differ only for an administratively down link's carrier
(kernel/sysfs_state.py), which no link here is."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import run, wait_until
from pyroute2 import AsyncIPRoute
from vfbondd_lab import BIN

from vfbond.kernel import bond_state, sysfs_state
from vfbond.shared import exitcodes

pytestmark = [pytest.mark.lab, pytest.mark.parametrize("topology", ["veth", "sriov"], indirect=True)]

BONDING = Path("/sys/class/net/bond0/bonding")


def bond_attr(name: str) -> str:
    return (BONDING / name).read_text().strip()


def mii(vf: str) -> str:
    return Path(f"/sys/class/net/{vf}/bonding_slave/mii_status").read_text().strip()


async def both_readings() -> tuple[dict[str, Any], dict[str, Any]]:
    """(netlink, sysfs) once they agree; the last pair if they never do within 3 s (a reading is several
    requests or files, and one can straddle a change)."""
    for _ in range(30):
        async with AsyncIPRoute() as ipr:
            by_netlink = await bond_state.read_bond(ipr, "bond0")
        by_sysfs = sysfs_state.read_bond("bond0")
        assert by_netlink is not None and by_sysfs is not None
        if by_netlink == by_sysfs:
            break
        await asyncio.sleep(0.1)
    return by_netlink.to_dict(), by_sysfs.to_dict()


def health() -> tuple[int, str]:
    done = run([BIN / "bondctl", "health", "--socket", "/nonexistent"], check=False)
    return done.returncode, done.stdout.strip()


async def test_sysfs_and_netlink_read_one_bond_alike(topology) -> None:
    first, second = topology.vfs
    run("ip link add bond0 type bond mode active-backup miimon 100 fail_over_mac active num_grat_arp 2 "
        f"arp_ip_target {topology.gw4}")
    for vf in topology.vfs:
        run(["ip", "link", "set", vf, "master", "bond0"])
    run(["ip", "link", "set", "bond0", "type", "bond", "primary", first])
    run("ip link set bond0 up")
    run(f"ip addr add {topology.host4}/{topology.gw4_prefix} dev bond0")
    run(f"ip addr add {topology.host6}/{topology.gw6_prefix} dev bond0 nodad")
    wait_until(lambda: mii(first) == mii(second) == "up" and bond_attr("active_slave") == first, 30, 0.1,
               "both slaves up, the primary active")

    by_netlink, by_sysfs = await both_readings()
    assert by_sysfs == by_netlink
    assert by_sysfs["arp_ip_targets"] == [topology.gw4] and by_sysfs["num_peer_notif"] == 2
    assert by_sysfs["addresses"] == [f"{topology.host4}/{topology.gw4_prefix}",
                                     f"{topology.host6}/{topology.gw6_prefix}"]
    assert health() == (exitcodes.OK, f"bond0: ok: 2 slaves usable, active {first}")

    topology.cut_carrier(0)
    wait_until(lambda: bond_attr("active_slave") == second and mii(first) == "down", 30, 0.05,
               f"failover to {second}, {first} down")
    by_netlink, by_sysfs = await both_readings()
    assert by_sysfs == by_netlink
    assert [(s["state"], s["mii_status"]) for s in by_sysfs["slaves"]] == [("backup", "down"), ("active", "up")]
    code, said = health()
    assert code == exitcodes.DEGRADED and f"{first} link is down" in said
