"""VfWatch end to end without a kernel: recorded kernel lines and link events in, events and status out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from vfbond.config import parse
from vfbond.kernel.bond_state import BondState, LinkInfo, SlaveState
from vfbond.shared.events import Event, EventType
from vfbond.supervise import maclock, vfwatch
from vfbond.supervise.vfwatch import VfWatch
from vfbond.watch.kmsg import KmsgRecord
from vfbond.watch.links import LinkEvent

CONFIG_TEXT = """\
bond:
  slaves:
    - {label: sriov0, mac: "fa:16:3e:00:00:01"}
    - {label: sriov1, mac: "fa:16:3e:00:00:02"}
"""
CONFIG = parse(CONFIG_TEXT)


class NoBond:
    """An AsyncIPRoute on which bond0 does not exist: the MAC-lock probe finds nothing to do."""

    async def link(self, *args: Any, **kwargs: Any) -> Any:
        raise NetlinkError(19, "No such device")


def sysfs(tmp_path: Path) -> tuple[Path, Path]:
    net, pci = tmp_path / "net", tmp_path / "pci"
    for i, (name, address, mac) in enumerate((("enp1s0v0", "0000:01:10.0", "fa:16:3e:00:00:01"),
                                               ("enp2s0v0", "0000:02:10.0", "fa:16:3e:00:00:02"),
                                               ("enp1s0", "0000:01:00.0", "52:54:00:00:00:10"))):
        (net / name).mkdir(parents=True)
        (net / name / "address").write_text(mac + "\n")
        (net / name / "ifindex").write_text(f"{10 + i}\n")
        (pci / address / "net" / name).mkdir(parents=True)
        (net / name / "device").symlink_to(pci / address)
    return net, pci


class Records:
    """Stands in for KmsgWatcher: no device, the test calls on_kernel itself."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def start(self) -> None:
        if self.fail:
            raise FileNotFoundError(2, "No such file or directory", "/dev/kmsg")

    def stats(self) -> dict[str, int]:
        return {"overwritten": 0, "dropped": 0, "errors": 0}

    def close(self) -> None:
        pass


def kernel(text: str, at: float = 0.0, facility: int = 0) -> KmsgRecord:
    return KmsgRecord(priority=3, facility=facility, seq=1, usec=1, text=text, at=at)


@pytest.fixture
async def watch(tmp_path: Path) -> Any:
    events: list[Event] = []
    net, pci = sysfs(tmp_path)
    w = VfWatch(CONFIG, NoBond(), events.append, kmsg=Records(), sys_net=net, sys_pci=pci)  # type: ignore[arg-type]
    await w.start()
    yield w, events
    await w.close()


async def test_vf_lines_alert_with_a_hint_and_the_pf_and_userspace_lines_do_not(watch: Any) -> None:
    w, events = watch
    w.on_kernel(kernel("igb 0000:01:00.0: VF 0 attempted to override administratively set MAC address"))
    w.on_kernel(kernel("igbvf 0000:01:10.0: PF still resetting", facility=1))  # written by a user, not the kernel
    assert events == []
    w.on_kernel(kernel("igbvf 0000:01:10.0: PF still resetting"))
    (event,) = events
    assert event.type is EventType.KERNEL_MESSAGE and event.slave == "enp1s0v0"
    assert "check the PF on the host" in event.reason
    lines = w.status()["slaves"]["enp1s0v0"]["kernel"]
    assert [line["kind"] for line in lines] == ["pf_resetting"]


async def test_bonding_refusing_a_mac_marks_the_vf_locked_in_status(watch: Any) -> None:
    w, _ = watch
    w.on_kernel(kernel("bond0: (slave enp2s0v0): Error -99 calling set_mac_address"))
    lock = w.status()["slaves"]["enp2s0v0"]["mac_lock"]
    assert lock["state"] == "locked" and lock["label"] == "sriov1"
    assert lock["text"].startswith("sriov1: MAC locked by the host (untrusted VF)")


async def test_carrier_loss_with_pf_resetting_is_a_pf_reset_then_recovered(watch: Any) -> None:
    w, events = watch

    def link(carrier: bool, at: float) -> LinkEvent:
        return LinkEvent(gone=False, index=10, name="enp1s0v0", mac="fa:16:3e:00:00:01", carrier=carrier,
                         operstate="UP" if carrier else "DOWN", master=5, kind=None, at=at)

    w.on_link(link(False, 50.0))
    w.on_link(object())  # another kind of observation (the link watcher's overrun): ignored
    w.on_kernel(kernel("igbvf 0000:01:10.0: PF still resetting", at=51.0))
    assert w.status()["slaves"]["enp1s0v0"]["outage"]["pf_reset"] is True
    w.on_link(link(True, 55.5))
    assert [e.type for e in events] == [EventType.KERNEL_MESSAGE, EventType.PF_RESET, EventType.RECOVERED]
    assert events[-1].details["outage_ms"] == 5500


async def test_without_dev_kmsg_the_rest_goes_on_and_status_says_why(tmp_path: Path) -> None:
    net, pci = sysfs(tmp_path)
    w = VfWatch(CONFIG, NoBond(), [].append, kmsg=Records(fail=True), sys_net=net, sys_pci=pci)  # type: ignore[arg-type]
    await w.start()
    assert w.status()["kmsg"]["error"] == "/dev/kmsg: No such file or directory"
    await w.close()


async def test_a_reload_changes_the_bounce_time(watch: Any) -> None:
    w, _ = watch
    w.reconfigure(parse(CONFIG_TEXT + "failover: {bounce_after_s: 0}\n"))
    assert w.pf.tracker.bounce_after == 0


async def test_a_fault_in_the_vf_watch_never_reaches_the_link_watch_loop(watch: Any) -> None:
    w, _ = watch

    def broken(*args: Any) -> None:
        raise RuntimeError("bug")

    w.pf.carrier = broken
    w.on_link(LinkEvent(gone=False, index=10, name="enp1s0v0", mac="fa:16:3e:00:00:01", carrier=False,
                        operstate="DOWN", master=5, kind=None, at=1.0))  # logged, not raised


def bond_state(active_carrier: bool = True) -> BondState:
    def link(index: int, name: str, mac: str, carrier: bool = True) -> LinkInfo:
        return LinkInfo(index=index, name=name, mac=mac, perm_mac=None, kind=None, master=5, carrier=carrier,
                        operstate="UP", mtu=1500)

    slaves = [SlaveState(link(10, "enp1s0v0", "fa:16:3e:00:00:01", active_carrier), "active", "up", 0,
                         "fa:16:3e:00:00:01"),
              SlaveState(link(11, "enp2s0v0", "fa:16:3e:00:00:02"), "backup", "up", 0, "fa:16:3e:00:00:02")]
    return BondState(link=link(5, "bond0", "fa:16:3e:00:00:01"), mode="active-backup", active_slave="enp1s0v0",
                     miimon=100, updelay=0, downdelay=0, fail_over_mac="active", primary=None,
                     primary_reselect="always", arp_interval=0, arp_ip_targets=[], num_peer_notif=1, slaves=slaves)


@pytest.mark.parametrize("active_carrier", [True, False])
async def test_only_the_backup_is_probed_and_only_while_the_active_has_carrier(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, active_carrier: bool) -> None:
    probed: list[str] = []

    async def read_bond(ipr: Any, name: str) -> Any:
        return bond_state(active_carrier)

    async def probe(ipr: Any, ifname: str, index: int, mac: str) -> maclock.LockVerdict:
        probed.append(ifname)
        return maclock.verdict_of_error(99)

    monkeypatch.setattr(vfwatch, "read_bond", read_bond)
    monkeypatch.setattr(maclock, "probe", probe)
    net, pci = sysfs(tmp_path)
    w = VfWatch(CONFIG, NoBond(), [].append, kmsg=Records(), sys_net=net, sys_pci=pci,  # type: ignore[arg-type]
                probe_settle=0)
    await w.start()
    assert w._probing is not None
    await asyncio.wait_for(w._probing, 5)
    await w.close()
    assert probed == (["enp2s0v0"] if active_carrier else [])
    if active_carrier:
        lock = w.status()["slaves"]["enp2s0v0"]["mac_lock"]
        assert lock["state"] == "locked" and lock["label"] == "sriov1"


async def test_the_vf_drivers_link_down_line_is_handed_to_the_fast_failover(tmp_path: Path) -> None:
    net, pci = sysfs(tmp_path)
    seen: list[tuple[str, float, str]] = []
    w = VfWatch(CONFIG, NoBond(), [].append, kmsg=Records(), sys_net=net, sys_pci=pci,  # type: ignore[arg-type]
                on_link_down=lambda *a: seen.append(a))
    await w.start()
    w.on_kernel(kernel("igb 0000:01:00.0 enp1s0: igb: enp1s0 NIC Link is Down", at=1.0))  # the PF's: the host's
    w.on_kernel(kernel("igbvf 0000:01:10.0: Link is Down", at=2.0))
    await w.close()
    assert seen == [("enp1s0v0", 2.0, "igbvf 0000:01:10.0: Link is Down")]


def vf1(mac: str, gone: bool = False) -> LinkEvent:
    return LinkEvent(gone=gone, index=11, name="enp2s0v0", mac=mac, carrier=not gone, operstate="UP", master=None,
                     kind=None, at=1.0)


async def test_a_vf_back_on_a_random_mac_is_known_by_its_pci_address_until_its_own_mac_returns(
        watch: Any, tmp_path: Path) -> None:
    w, _ = watch
    w.on_link(vf1("fa:16:3e:00:00:02"))  # seen once where it lives
    w.on_link(vf1("fa:16:3e:00:00:02", gone=True))  # the host re-creates it...
    (tmp_path / "net/enp2s0v0/address").write_text("9a:29:63:1c:a2:2d\n")  # ...and it comes back on a random MAC
    w.on_kernel(kernel("igbvf 0000:02:10.0: Assigning random MAC address."))
    waiting = w.status()["waiting"]["sriov1"]
    assert waiting["pci"] == "0000:02:10.0"
    assert "random MAC" in waiting["text"] and "fa:16:3e:00:00:02" in waiting["text"]
    w.on_link(vf1("fa:16:3e:00:00:02"))  # the host set its MAC and the VF driver reset
    assert w.status()["waiting"] == {}


async def test_a_vf_present_at_start_and_re_created_on_a_random_mac_is_waited_for(
        watch: Any, tmp_path: Path) -> None:
    """No link event before the re-creation: where it lives is known from sysfs at start."""
    w, _ = watch
    w.on_link(vf1("fa:16:3e:00:00:02", gone=True))
    (tmp_path / "net/enp2s0v0/address").write_text("9a:29:63:1c:a2:2d\n")
    w.on_kernel(kernel("igbvf 0000:02:10.0: Assigning random MAC address."))
    assert w.status()["waiting"]["sriov1"]["pci"] == "0000:02:10.0"


async def test_a_random_mac_at_an_address_no_configured_vf_lived_at_is_not_waited_for(watch: Any) -> None:
    w, _ = watch
    w.on_kernel(kernel("igbvf 0000:03:10.0: Assigning random MAC address."))
    assert w.status()["waiting"] == {}
