"""Smoke tests of the kernel lab itself: real bonding driver, real NetworkManager, no vfbond code.

If these fail, the lab (not the project) is broken.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

BOND = Path("/sys/class/net/bond0/bonding")


def bond_attr(name: str) -> str:
    return (BOND / name).read_text().strip()


def test_kernel_bond_failover_and_gateway(topology, sh, wait_until):
    sh("ip link add bond0 type bond mode active-backup miimon 100 fail_over_mac active")
    assert bond_attr("mode") == "active-backup 1"
    assert bond_attr("fail_over_mac") == "active 1"
    for vf in topology.vfs:
        sh(f"ip link set {vf} master bond0")
    sh("ip link set bond0 up")
    sh(f"ip addr add {topology.host4}/{topology.gw4_prefix} dev bond0")
    assert set(bond_attr("slaves").split()) == set(topology.vfs)

    first = wait_until(lambda: bond_attr("active_slave"), 10, 0.1, "an active slave")
    assert first in topology.vfs
    # fail_over_mac active: the bond carries the active VF's own MAC, the VFs keep theirs
    assert Path("/sys/class/net/bond0/address").read_text().strip() == \
        topology.mac(topology.vfs.index(first))
    assert topology.ping_gateway(), "gateway unreachable through bond0 before failover"

    i = topology.vfs.index(first)
    t0 = time.monotonic()
    topology.cut_carrier(i)
    second = wait_until(lambda: (a := bond_attr("active_slave")) != first and a, 5, 0.05,
                        f"active slave to move off {first}")
    took = time.monotonic() - t0
    assert second == topology.vf(1 - i)
    assert not topology.carrier(i)
    assert Path("/sys/class/net/bond0/address").read_text().strip() == topology.mac(1 - i)
    print(f"failover {first} -> {second} seen after {took:.2f}s")
    assert topology.ping_gateway(), "gateway unreachable through bond0 after failover"


def test_spoofcheck_counts_foreign_source_mac(topology, sh):
    topology.spoofcheck(True)
    # a frame from vf0 carrying vf1's MAC is what a switch with spoof-check drops
    sh(f"ip link set {topology.vf(0)} address {topology.mac(1)}")
    sh(f"ip link set {topology.vf(0)} up")
    sh(f"ip addr add {topology.host4}/{topology.gw4_prefix} dev {topology.vf(0)}")
    assert not topology.ping_gateway(count=2, deadline=3)
    assert topology.spoof_drops()[0] > 0
    sh(f"ip link set {topology.vf(0)} address {topology.mac(0)}")
    assert topology.ping_gateway(count=2)


def test_blackhole_unplug_replug(topology, sh):
    vf = topology.vf(0)
    sh(f"ip link set {vf} up")
    sh(f"ip addr add {topology.host4}/{topology.gw4_prefix} dev {vf}")
    assert topology.ping_gateway(count=1)
    topology.blackhole(0)
    assert topology.carrier(0)
    assert not topology.ping_gateway(count=2, deadline=3)
    assert topology.blackhole_drops(0) > 0
    topology.unblackhole(0)
    assert topology.ping_gateway(count=1)

    topology.unplug(0)
    assert not Path(f"/sys/class/net/{vf}").exists()
    name = topology.replug(0, name="vf0r")
    assert name == "vf0r" == topology.vf(0)
    assert Path("/sys/class/net/vf0r/address").read_text().strip() == topology.mac(0)


def test_networkmanager_day0_bond(topology, networkmanager, wait_until):
    nm = networkmanager
    status = nm.nmcli("-t", "-f", "RUNNING,STATE", "general", "status").strip()
    assert status.startswith("running:"), status
    assert nm.nmcli("general", "status")  # the human form works too
    devices = dict(
        line.split(":", 1) for line in nm.nmcli("-t", "-f", "DEVICE,STATE", "device").splitlines()
    )
    assert devices.get("vf0") not in (None, "unmanaged"), devices
    assert devices.get("lo") == "unmanaged", devices

    # the seed's day0 lines
    nm.nmcli("connection", "add", "type", "bond", "con-name", "bond0", "ifname", "bond0",
             "bond.options", "mode=active-backup,miimon=1000,fail_over_mac=1",
             "ipv4.method", "manual", "ipv4.addresses", f"{topology.host4}/{topology.gw4_prefix}",
             "ipv6.method", "disabled")
    for vf in topology.vfs:
        nm.nmcli("connection", "add", "type", "ethernet", "con-name", f"bond0-{vf}",
                 "ifname", vf, "master", "bond0")
    nm.nmcli("connection", "up", "bond0", timeout=120)

    assert bond_attr("mode") == "active-backup 1"
    assert bond_attr("fail_over_mac") == "active 1"
    assert bond_attr("miimon") == "1000"
    wait_until(lambda: set(bond_attr("slaves").split()) == set(topology.vfs), 60, 0.5,
               "NM to enslave vf0 and vf1")
    first = wait_until(lambda: bond_attr("active_slave"), 30, 0.2, "an active slave")
    assert topology.ping_gateway(), "gateway unreachable through the NM bond"

    i = topology.vfs.index(first)
    topology.cut_carrier(i)
    wait_until(lambda: bond_attr("active_slave") == topology.vf(1 - i), 10, 0.1,
               "failover under NM (miimon 1000)")
    assert topology.ping_gateway(), "gateway unreachable after failover under NM"
