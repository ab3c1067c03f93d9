"""The sysfs reader against the real kernel's files: in a namespace of its own, a bridge stands in for
bond0 (the host has no bonding driver) over two veth "VFs", one of them down. Its real sysfs files
are copied into a tree that adds what only the bonding driver writes, and the reading of that tree
must equal the netlink reader's for every link and address (tests/lab/test_sysfs_state.py compares
the two on a real bond)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import sh

pytestmark = pytest.mark.host

# The files the bonding driver would add, in its formats (bond_sysfs.c, bond_sysfs_slave.c).
BONDING = {
    "bond0/bonding/mode": "active-backup 1", "bond0/bonding/slaves": "vf0 vf1", "bond0/bonding/active_slave": "vf0",
    "bond0/bonding/miimon": "100", "bond0/bonding/updelay": "0", "bond0/bonding/downdelay": "0",
    "bond0/bonding/fail_over_mac": "active 1", "bond0/bonding/primary": "vf0",
    "bond0/bonding/primary_reselect": "always 0", "bond0/bonding/num_grat_arp": "1",
    "bond0/bonding/arp_interval": "0", "bond0/bonding/arp_ip_target": "192.0.2.1",
    "vf0/bonding_slave/state": "active", "vf0/bonding_slave/mii_status": "up",
    "vf0/bonding_slave/link_failure_count": "0", "vf0/bonding_slave/perm_hwaddr": "fa:16:3e:00:00:01",
    "vf1/bonding_slave/state": "backup", "vf1/bonding_slave/mii_status": "down",
    "vf1/bonding_slave/link_failure_count": "3", "vf1/bonding_slave/perm_hwaddr": "fa:16:3e:00:00:02",
}

# Run inside the namespace (`ip netns exec` mounts its own /sys): copy the links' real files, add the
# bonding driver's, read the tree with the sysfs reader and the links with the netlink one.
READ_BOTH = """
import asyncio, json, os, sys
from dataclasses import asdict
from pathlib import Path
from pyroute2 import AsyncIPRoute
from vfbond.kernel.bond_state import SYS_NET, addresses, link_info
from vfbond.kernel.sysfs_state import read_bond

fake, bonding = Path(sys.argv[1]), json.loads(sys.argv[2])
for name in ("bond0", "vf0", "vf1"):
    (fake / name).mkdir(parents=True)
    for attr in ("ifindex", "address", "carrier", "operstate", "mtu", "speed", "flags"):
        try:
            (fake / name / attr).write_text((SYS_NET / name / attr).read_text())
        except OSError:  # carrier and speed of a down link: EINVAL, left out as the kernel leaves them
            pass
    if (SYS_NET / name / "master").exists():
        (fake / name / "master").symlink_to("../" + os.path.basename(os.path.realpath(SYS_NET / name / "master")))
for rel, value in bonding.items():
    (fake / rel).parent.mkdir(parents=True, exist_ok=True)
    (fake / rel).write_text(value + "\\n")

async def netlink():
    async with AsyncIPRoute() as ipr:
        links = {}
        for name in ("bond0", "vf0", "vf1"):
            (msg,) = tuple(await ipr.link("get", ifname=name))
            links[name] = asdict(link_info(msg))
        return links, await addresses(ipr, links["bond0"]["index"])

links, addrs = asyncio.run(netlink())
print(json.dumps({"netlink": links, "netlink_addresses": addrs, "sysfs": read_bond("bond0", fake).to_dict(),
                  "kernel_speed": (SYS_NET / "vf0" / "speed").read_text().strip()}))
"""


def read_both(ns: str, tree: Path) -> dict[str, Any]:
    done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", READ_BOTH, str(tree),
                           json.dumps(BONDING)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_sysfs_reading_equals_netlinks_for_every_link_and_address(netns, tmp_path: Path) -> None:
    ns = netns()
    sh(f"ip -n {ns} link add bond0 type bridge")
    for i in range(2):
        sh(f"ip -n {ns} link add vf{i} address fa:16:3e:00:00:0{i + 1} type veth peer name sw{i}")
        sh(f"ip -n {ns} link set vf{i} master bond0 && ip -n {ns} link set sw{i} up")
    sh(f"ip -n {ns} link set vf0 up && ip -n {ns} link set bond0 up")
    sh(f"ip -n {ns} addr add 192.0.2.10/24 dev bond0 && ip -n {ns} addr add 2001:db8::10/64 dev bond0 nodad")
    got = read_both(ns, tmp_path / "net")
    netlink, state = got["netlink"], got["sysfs"]

    slaves = {s["link"]["name"]: s for s in state["slaves"]}
    assert list(slaves) == ["vf0", "vf1"]
    for name, slave in slaves.items():
        assert slave["link"] == netlink[name], name  # veth's ethtool driver is netlink's kind
    assert netlink["vf0"]["carrier"] and not netlink["vf1"]["carrier"] and netlink["vf1"]["operstate"] == "DOWN"
    # The speed from the ethtool ioctl, as the kernel's own sysfs file gives it (veth: 10000); none without carrier.
    assert (netlink["vf0"]["speed_mbps"], netlink["vf1"]["speed_mbps"]) == (int(got["kernel_speed"]), None)
    stand_in = {**state["link"], "kind": "bridge", "driver": "bridge"}  # a bond's kind and driver are "bond"
    assert (state["link"]["kind"], state["link"]["driver"]) == ("bond", "bond")
    assert stand_in == netlink["bond0"]
    assert state["addresses"] == got["netlink_addresses"] == ["192.0.2.10/24", "2001:db8::10/64"]

    assert (state["mode"], state["fail_over_mac"], state["primary_reselect"]) == ("active-backup", "active", "always")
    assert (state["active_slave"], state["primary"], state["arp_ip_targets"]) == ("vf0", "vf0", ["192.0.2.1"])
    assert [(s["state"], s["mii_status"], s["link_failure_count"], s["perm_mac"]) for s in slaves.values()] == [
        ("active", "up", 0, "fa:16:3e:00:00:01"), ("backup", "down", 3, "fa:16:3e:00:00:02")]
