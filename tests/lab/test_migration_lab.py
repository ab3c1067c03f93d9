"""The live-migration lab itself (issue #22), before any vfbond feature rests on it: the paravirtual
standby is cabled to the switch on both topologies with its real driver, and the sriov topology's
migrate() takes both VFs away and brings them back as Nova does (same admin MACs, reverse order,
maybe new names, maybe one never).  No vfbond code runs here.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import NM_MANAGED, Topology, run
from sriov import MIGRATED_NAMES, VF_NAMES, SriovTopology

pytestmark = pytest.mark.lab
BOTH = pytest.mark.parametrize("topology", ["veth", "sriov"], indirect=True)
SRIOV = pytest.mark.parametrize("topology", ["sriov"], indirect=True)
PAUSE_S = 2.0


def driver(name: str) -> str:
    """The netdev's driver: its device's driver (PCI, virtio), else its link kind (veth)."""
    dev = Path(f"/sys/class/net/{name}/device/driver")
    if dev.exists():
        return dev.resolve().name
    info = json.loads(run(["ip", "-d", "-j", "link", "show", name]).stdout)[0]
    return str(info.get("linkinfo", {}).get("info_kind", "?"))


def sysfs(name: str, attr: str) -> str:
    return Path(f"/sys/class/net/{name}/{attr}").read_text().strip()


def ifindexes(topo: SriovTopology) -> dict[str, int]:
    return {topo.mac(i): int(sysfs(vf, "ifindex")) for i, vf in enumerate(topo.vfs)}


@BOTH
def test_standby_is_a_third_switch_port_with_its_own_driver_and_left_alone(topology: Topology) -> None:
    sb = topology.standby
    assert sysfs(sb, "address") == topology.standby_mac
    assert driver(sb) == ("virtio_net" if topology.kind == "sriov" else "veth")
    assert topology.standby_mac not in topology.macs, "the standby would be taken for a VF"
    # fresh, as a VF is: down and no address, so it routes nothing until a test uses it
    assert not int(sysfs(sb, "flags"), 16) & 1
    assert json.loads(run(["ip", "-j", "addr", "show", "dev", sb]).stdout)[0]["addr_info"] == []
    port = json.loads(topology.in_sw(["ip", "-j", "link", "show", topology.standby_sw]).stdout)[0]
    assert port.get("master") == topology.bridge
    # the lab's NetworkManager manages only what a test lists: not the standby by default
    assert not any(fnmatch.fnmatch(sb, pattern) for pattern in NM_MANAGED)


@BOTH
def test_gateway_answers_through_the_standby_alone(topology: Topology) -> None:
    sb = topology.standby
    assert not any(int(sysfs(vf, "flags"), 16) & 1 for vf in topology.vfs), "a VF is up: not the standby alone"
    run(["ip", "addr", "add", f"{topology.host4}/{topology.gw4_prefix}", "dev", sb])
    run(["ip", "link", "set", sb, "up"])
    assert topology.ping_gateway(dev=sb, deadline=15)
    fdb = topology.in_sw(["bridge", "fdb", "show", "br", topology.bridge]).stdout
    assert re.search(rf"^{topology.standby_mac} dev {topology.standby_sw} ", fdb, re.M), fdb


@SRIOV
def test_migrate_takes_both_vfs_away_and_returns_them_in_reverse_under_new_names(topology: SriovTopology) -> None:
    before = ifindexes(topology)
    old = list(topology.vfs)
    sb = topology.standby  # the standby carries pings across the whole migration
    run(["ip", "addr", "add", f"{topology.host4}/{topology.gw4_prefix}", "dev", sb])
    run(["ip", "link", "set", sb, "up"])
    assert topology.ping_gateway(dev=sb, deadline=15)
    ping = subprocess.Popen(["ping", "-4", "-D", "-n", "-i", "0.2", "-W", "1", "-w", str(int(PAUSE_S) + 20),
                             "-I", sb, topology.gw4], stdout=subprocess.PIPE, text=True)
    try:
        m = topology.migrate(PAUSE_S, rename=True)
    finally:
        ping.terminate()
    replies = [float(t) for t in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", ping.communicate()[0], re.M)]

    assert m.order == (1, 0) and m.missing == ()
    assert m.detach <= m.gone <= m.attach - PAUSE_S < m.back[1] < m.back[0]
    assert list(m.names) == topology.vfs == list(MIGRATED_NAMES)
    for name in old:
        assert not Path(f"/sys/class/net/{name}").exists(), f"{name} survived the migration"
    for i, vf in enumerate(topology.vfs):
        assert driver(vf) == "igbvf" and sysfs(vf, "address") == topology.mac(i)
    after = ifindexes(topology)
    assert all(after[mac] != before[mac] for mac in before), "a VF kept its netdev: it was never removed"
    assert any(m.gone <= t <= m.attach for t in replies), "no gateway reply on the standby while the VFs were gone"
    print(f"\nmigrate({PAUSE_S}): VFs gone after {m.gone_after:.2f} s; back {m.back_after(1):.2f} s "
          f"({topology.vf(1)}) and {m.back_after(0):.2f} s ({topology.vf(0)}) after the re-attach began; "
          f"{len(replies)} standby replies")

    second = topology.migrate(0, rename=True, reverse=False)  # and back to the first names
    assert second.order == (0, 1) and list(second.names) == list(VF_NAMES)


@SRIOV
def test_aborted_migration_leaves_a_vf_out_until_it_is_attached(topology: SriovTopology) -> None:
    m = topology.migrate(0.5, never_return=0)
    assert m.order == (1,) and m.missing == (0,)
    assert not Path(f"/sys/class/net/{topology.vf(0)}").exists()
    assert sysfs(topology.vf(1), "address") == topology.mac(1)
    assert Path(f"/sys/bus/pci/devices/{topology.pf_pci[0]}/sriov_numvfs").read_text().strip() == "0"
    late = topology.attach_vfs()  # the late return of an aborted migration
    assert late.order == (0,) and late.missing == ()
    assert sysfs(topology.vf(0), "address") == topology.mac(0)
    print(f"\nmigrate(0.5, never_return=0): VF 1 back {m.back_after(1):.2f} s after the re-attach began; "
          f"VF 0 {late.back_after(0):.2f} s after its late attach")
