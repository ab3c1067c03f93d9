"""The sysfs reader over a fake /sys/class/net laid out as the kernel lays it out (bond_sysfs.c,
bond_sysfs_slave.c, net-sysfs.c: each value on its own line), and bondctl's verdict from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vfbond.ctl import bondctl
from vfbond.kernel import ethtool, sysfs_state
from vfbond.kernel.sysfs_state import read_bond
from vfbond.shared import exitcodes

# Names and indexes no real link has: ethtool and the address dump ask the real kernel about them.
BOND, VFS, INDEX = "vfbt-bond0", ("vfbt-ens6", "vfbt-ens7"), {"vfbt-bond0": 70100, "vfbt-ens6": 70006,
                                                               "vfbt-ens7": 70007}
MACS = ("fa:16:3e:00:00:01", "fa:16:3e:00:00:02")
BONDING = {"mode": "active-backup 1", "active_slave": VFS[0], "slaves": f"{VFS[1]} {VFS[0]}", "miimon": "100",
           "updelay": "0", "downdelay": "200", "fail_over_mac": "active 1", "primary": VFS[0],
           "primary_reselect": "failure 2", "num_grat_arp": "1", "num_unsol_na": "1", "arp_interval": "0",
           "arp_ip_target": "", "use_carrier": "1", "xmit_hash_policy": "layer2 0"}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def link(root: Path, name: str, mac: str, **values: str) -> Path:
    d = root / name
    for attr, value in {"ifindex": str(INDEX[name]), "address": mac, "carrier": "1", "operstate": "up",
                        "mtu": "1500", **values}.items():
        write(d / attr, value)
    return d


def fake_bond(root: Path, mii: tuple[str, str] = ("up", "up")) -> Path:
    """bond0 over two VFs of two PFs, the first active: as a VM with two SR-IOV NICs shows them."""
    (root / "bonding_masters").parent.mkdir(parents=True, exist_ok=True)
    write(root / "bonding_masters", BOND)
    bond = link(root, BOND, MACS[0].upper())  # the kernel prints lower case; the reader must not care
    for attr, value in BONDING.items():
        write(bond / "bonding" / attr, value)
    for i, name in enumerate(VFS):
        d = link(root, name, MACS[i])
        (d / "master").symlink_to(f"../{BOND}")
        pci = root.parent / "devices" / f"0000:00:0{5 + i}.0"
        write(pci / "numa_node", str(i))
        (root.parent / "drivers" / "iavf").mkdir(parents=True, exist_ok=True)
        os.symlink(root.parent / "drivers" / "iavf", pci / "driver")
        os.symlink(root.parent / "devices" / f"0000:3{i}:00.0", pci / "physfn")
        (root.parent / "devices" / f"0000:3{i}:00.0").mkdir(parents=True, exist_ok=True)
        (d / "device").symlink_to(pci)
        for attr, value in {"state": "backup" if i else "active", "mii_status": mii[i], "link_failure_count": str(i),
                            "perm_hwaddr": MACS[i], "queue_id": "0"}.items():
            write(d / "bonding_slave" / attr, value)
    return root


def test_a_healthy_bond_reads_as_netlink_reads_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ethtool, "speed", {VFS[0]: 25000}.get)  # the ioctl asks the real kernel
    state = read_bond(BOND, fake_bond(tmp_path / "net"))
    assert state is not None
    assert (state.mode, state.fail_over_mac, state.primary_reselect) == ("active-backup", "active", "failure")
    options = (state.miimon, state.updelay, state.downdelay, state.arp_interval, state.num_peer_notif)
    assert options == (100, 0, 200, 0, 1)
    assert (state.active_slave, state.primary, state.arp_ip_targets) == (VFS[0], VFS[0], [])
    assert state.link.mac == MACS[0] and state.link.kind == "bond" and state.link.index == INDEX[BOND]
    assert [s.name for s in state.slaves] == list(VFS)  # sorted, as the netlink reader sorts them
    first, second = state.slaves
    assert (first.state, first.mii_status, first.link_failure_count, first.perm_mac) == ("active", "up", 0, MACS[0])
    assert (second.state, second.link_failure_count, second.perm_mac) == ("backup", 1, MACS[1])
    assert first.link.master == INDEX[BOND] and first.link.operstate == "UP" and first.link.carrier
    assert (first.link.kind, first.link.driver, first.link.pci_address, first.link.pf_address) == (
        None, "iavf", "0000:00:05.0", "0000:30:00.0")
    assert (first.link.numa_node, first.link.speed_mbps, second.link.speed_mbps) == (0, 25000, None)
    assert state.addresses == []  # no real link has that index


@pytest.mark.parametrize(("word", "status"), [("going down", "fail"), ("going back", "back"), ("down", "down"),
                                              ("sideways", "unknown(sideways)")])
def test_sysfs_spells_out_the_mii_states_netlink_numbers(tmp_path: Path, word: str, status: str) -> None:
    state = read_bond(BOND, fake_bond(tmp_path / "net", mii=("up", word)))
    assert state is not None and state.slaves[1].mii_status == status


def test_no_bond_and_a_link_that_is_no_bond_read_as_none(tmp_path: Path) -> None:
    root = fake_bond(tmp_path / "net")
    assert read_bond("vfbt-nosuch", root) is None
    assert read_bond(VFS[0], root) is None


def test_an_admin_down_link_has_no_carrier_file_to_read(tmp_path: Path) -> None:
    root = fake_bond(tmp_path / "net")
    (root / VFS[1] / "carrier").unlink()  # the kernel answers EINVAL; read as no carrier
    (root / VFS[1] / "operstate").write_text("down\n")
    state = read_bond(BOND, root)
    assert state is not None and not state.slaves[1].link.carrier and state.slaves[1].link.operstate == "DOWN"


def run_bondctl(monkeypatch: pytest.MonkeyPatch, root: Path, tmp_path: Path, *argv: str) -> int:
    monkeypatch.setattr(sysfs_state, "SYS_NET", root)
    return bondctl.main([*argv, "--bond", BOND, "--socket", str(tmp_path / "nobody.sock")])


def test_bondctl_health_without_vfbondd_judges_the_sysfs_reading(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = fake_bond(tmp_path / "net")
    assert run_bondctl(monkeypatch, root, tmp_path, "health") == exitcodes.OK
    assert capsys.readouterr().out == f"{BOND}: ok: 2 slaves usable, active {VFS[0]}\n"
    (root / VFS[1] / "bonding_slave" / "mii_status").write_text("down\n")
    assert run_bondctl(monkeypatch, root, tmp_path, "health") == exitcodes.DEGRADED
    assert f"{VFS[1]} link is down" in capsys.readouterr().out
    assert run_bondctl(monkeypatch, root, tmp_path, "status") == exitcodes.OK
    out = capsys.readouterr().out
    assert f"{BOND}: active-backup, UP, mac {MACS[0]}, mtu 1500  [kernel (vfbondd not running)]" in out
    assert f"* {VFS[0]}" in out and "iavf" in out and "0000:00:06.0" in out


@pytest.mark.parametrize(("low", "high", "mbps"), [(25000, 0, 25000), (0x86A0, 0x1, 100000), (0xFFFF, 0xFFFF, None),
                                                   (0, 0, None)])
def test_the_speed_is_read_from_both_halves_of_ethtool_cmd(monkeypatch: pytest.MonkeyPatch, low: int, high: int,
                                                           mbps: int | None) -> None:
    """ETHTOOL_GSET: speed u16 at offset 12, speed_hi u16 at 28 (100 Gb/s needs both); all ones: unknown."""
    def ask(ifname: str, request: bytes) -> bytes:
        assert request[:4] == (ethtool.ETHTOOL_GSET).to_bytes(4, "little") and len(request) == ethtool.CMD_SIZE
        reply = bytearray(request)
        reply[12:14], reply[28:30] = low.to_bytes(2, "little"), high.to_bytes(2, "little")
        return bytes(reply)

    monkeypatch.setattr(ethtool, "_ask", ask)
    assert ethtool.speed("ens6") == mbps
