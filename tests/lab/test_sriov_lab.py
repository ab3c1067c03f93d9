"""The sriov topology itself: real igbvf VFs behave as LAB-NOTES.md says, so later claims rest on it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import run, wait_until
from kernel_log import KernelLog
from sriov import SriovTopology
from vfbondd_lab import BIN, LabDaemon

pytestmark = [pytest.mark.lab, pytest.mark.parametrize("topology", ["sriov"], indirect=True)]


def driver(name: str) -> str:
    return Path(f"/sys/class/net/{name}/device/driver").resolve().name


def test_vfs_are_igbvf_with_the_admin_mac_and_reach_the_gateway(topology: SriovTopology) -> None:
    for i, vf in enumerate(topology.vfs):
        assert driver(vf) == "igbvf"
        assert Path(f"/sys/class/net/{vf}/address").read_text().strip() == topology.mac(i)
    # the guest sees no PF: they are the host's
    assert not any(driver(n.name) == "igb" for n in Path("/sys/class/net").iterdir() if (n / "device").exists())
    host = run(["ip", "-n", topology.host_ns, "link", "show", topology.pfs[0]]).stdout
    assert "spoof checking on" in host and "trust off" in host
    run(["ip", "addr", "add", f"{topology.host4}/24", "dev", topology.vf(0)])
    run(["ip", "link", "set", topology.vf(0), "up"])
    topology.wait_carrier(0)
    assert topology.ping_gateway(dev=topology.vf(0))


def test_untrusted_vf_refuses_a_mac_change(topology: SriovTopology) -> None:
    done = run(["ip", "link", "set", topology.vf(1), "address", "02:00:00:00:99:01"], check=False)
    assert done.returncode != 0, "an untrusted VF with an admin MAC accepted a MAC change"
    topology.set_trust(1, True)
    run(["ip", "link", "set", topology.vf(1), "address", "02:00:00:00:99:01"])


def test_fail_over_mac_none_cannot_enslave_a_mac_locked_vf(topology: SriovTopology) -> None:
    with KernelLog() as klog:  # only this test's lines: an earlier test in this boot may have logged the same
        run("ip link add bond9 type bond mode active-backup miimon 100 fail_over_mac none")
        done = [run(["ip", "link", "set", vf, "master", "bond9"], check=False) for vf in topology.vfs]
        assert any(d.returncode != 0 for d in done), \
            "the kernel enslaved both MAC-locked VFs under fail_over_mac=none"
        assert klog.has("Error -99 calling set_mac_address")


def test_pf_reset_drops_vf_carrier_and_it_returns(topology: SriovTopology) -> None:
    run(["ip", "link", "set", topology.vf(0), "up"])
    topology.wait_carrier(0)
    topology.pf_reset(0)
    wait_until(lambda: not topology.carrier(0), 10, 0.05, "VF carrier loss after the PF reset")
    topology.pf_restore(0)
    back = topology.wait_carrier(0)
    print(f"\nVF carrier back {back:.1f} s after the PF came up")


def test_cable_pull_keeps_vf_carrier_but_kills_traffic(topology: SriovTopology) -> None:
    run(["ip", "addr", "add", f"{topology.host4}/24", "dev", topology.vf(0)])
    run(["ip", "link", "set", topology.vf(0), "up"])
    topology.wait_carrier(0)
    assert topology.ping_gateway(dev=topology.vf(0))
    topology.cable_pull(0)
    time.sleep(2)
    assert topology.carrier(0), "the VF lost carrier on a cable pull (expected: kept, as with a forced-up VF)"
    assert not topology.ping_gateway(dev=topology.vf(0), count=2, deadline=3)
    topology.cable_restore(0)
    assert topology.ping_gateway(dev=topology.vf(0), deadline=15)


def test_recreated_vf_has_a_new_ifindex_and_its_admin_mac(topology: SriovTopology) -> None:
    before = int(Path(f"/sys/class/net/{topology.vf(1)}/ifindex").read_text())
    topology.unplug(1)
    name = topology.replug(1, "ens9")
    assert name == "ens9" and driver("ens9") == "igbvf"
    assert int(Path("/sys/class/net/ens9/ifindex").read_text()) != before
    assert Path("/sys/class/net/ens9/address").read_text().strip() == topology.mac(1)


def test_hand_made_none_bond_on_locked_vfs_is_repaired_by_apply(topology: SriovTopology, tmp_path: Path) -> None:
    """The kernel refuses both VFs (Error -99 for each): an empty bond, which apply must repair."""
    # A bond whose MAC is still random takes the first slave's, and igbvf then "sets" that VF to its
    # own MAC: accepted. udev's MACAddressPolicy=persistent races the enslave to give bond0 a MAC of
    # its own, so which VF is refused was a coin toss (CI once kept ens6); a set MAC makes it both.
    run("ip link add bond0 address 02:00:00:00:00:b0 type bond mode active-backup miimon 100 fail_over_mac none")
    for vf in topology.vfs:
        run(["ip", "link", "set", vf, "master", "bond0"], check=False)
    assert Path("/sys/class/net/bond0/bonding/slaves").read_text().split() == []
    status = run([BIN / "bondctl", "status", "--bond", "bond0", "--socket", "/nonexistent"]).stdout
    assert "fail_over_mac=none on VF slaves" in status

    d = LabDaemon(topology, tmp_path)
    d.write_config()
    done = run([BIN / "bondctl", "apply", "-c", d.config], check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert Path("/sys/class/net/bond0/bonding/fail_over_mac").read_text().split()[0] == "active"
    assert sorted(Path("/sys/class/net/bond0/bonding/slaves").read_text().split()) == sorted(topology.vfs)
    for i, vf in enumerate(topology.vfs):  # each VF kept the MAC the host gave it
        assert Path(f"/sys/class/net/{vf}/address").read_text().strip() == topology.mac(i)
    wait_until(lambda: topology.carrier(0) and topology.carrier(1), 30, 0.2, "both VFs' carrier")
    assert topology.ping_gateway(deadline=20)
