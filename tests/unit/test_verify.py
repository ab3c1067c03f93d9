"""The failover check's pure parts and its fault handling, without sockets."""

from __future__ import annotations

import asyncio
import errno
import time
from dataclasses import replace

import pytest

from vfbond.config import Config, parse
from vfbond.shared.events import Event, EventType
from vfbond.shared.faults import Faults
from vfbond.supervise import verify
from vfbond.supervise.verify import FailoverCheck, notify_window, verify_target

from .test_supervisor import bond

BASE = """
bond:
  slaves: [{label: sriov0, name: vf0}, {label: sriov1, name: vf1}]
  IP
PROBESbackend: netlink
"""


def config(ip: str = "", probes: str = "") -> Config:
    return parse(BASE.replace("IP", ip).replace("PROBES", probes))


def test_the_target_is_the_first_probe_target_else_the_ipv4_gateway_else_the_ipv6_one() -> None:
    v4 = "ipv4: {addresses: [192.0.2.10/24], gateway: 192.0.2.1}"
    v6 = 'ipv6: {addresses: ["2001:db8::10/64"], gateway: "2001:db8:0::1"}'
    assert verify_target(config(v4, "probes: {targets: [192.0.2.254]}\n")) == "192.0.2.254"
    assert verify_target(config(v4)) == "192.0.2.1"
    assert verify_target(config(v6)) == "2001:db8::1"  # normalised like probe replies
    assert verify_target(config()) is None


def test_the_count_waits_for_every_kernel_notification() -> None:
    """One per miimon tick (bond_options.sh: num_grat_arp), the first at the switch or at the next tick
    when the kernel defers it (the new slave's link change still pending in linkwatch)."""
    assert notify_window(replace(bond("vf1"), num_peer_notif=3, miimon=1000), margin=2.0) == 5.0
    assert notify_window(replace(bond("vf1"), num_peer_notif=1, miimon=100), margin=2.0) == 2.1
    assert notify_window(replace(bond("vf1"), num_peer_notif=0, miimon=100), margin=2.0) == 2.0  # vfbondd's own


def test_a_counter_that_cannot_open_is_a_fault_once_and_a_vanished_vf_none(monkeypatch: pytest.MonkeyPatch) -> None:
    errors = {"vf0": errno.ENODEV, "vf1": errno.EPERM}

    def refuse(name: str) -> None:
        raise OSError(errors[name], "refused")

    monkeypatch.setattr(verify, "AnnouncementCounter", refuse)
    faults, emitted = Faults(), list[Event]()
    check = FailoverCheck(emitted.append, faults)
    cfg = config()
    for _ in range(3):
        check.on_read(bond("vf0"), None, cfg, 0.0)
    assert faults.snapshot()["by_kind"] == {"announcement counter on vf1": 1}
    errors["vf1"] = errno.ENODEV
    check.on_read(bond("vf1"), None, cfg, 0.0)  # vf0 the backup now ...
    errors["vf0"] = errno.ENODEV  # ... and gone
    check.on_read(bond("vf1"), None, cfg, 0.0)
    assert faults.snapshot()["total"] == 1 and emitted == []


class FakeCounter:
    def __init__(self, name: str) -> None:
        self.name, self.garp, self.na, self.closed = name, 0, 0, False

    @property
    def total(self) -> int:
        return self.garp + self.na

    def close(self) -> None:
        self.closed = True


async def test_a_check_names_its_move_and_the_next_move_ends_its_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """A restore one second after a move: the first check must not count the restore's notifications."""
    monkeypatch.setattr(verify, "AnnouncementCounter", FakeCounter)
    emitted: list[Event] = []
    check = FailoverCheck(emitted.append, Faults(), margin=0.05)
    cfg = config("ipv4: {addresses: [192.0.2.10/24], gateway: 192.0.2.1}")  # vf0/vf1 absent: no probe leaves
    check.on_read(bond("vf0"), None, cfg, 0.0)  # a counter opens on the backup, vf1
    first = Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1", time=100.0)
    check.on_read(bond("vf1"), first, cfg, time.monotonic())
    [counting] = check._counting
    back = Event(EventType.FAILBACK, "bond0", old_active="vf1", new_active="vf0", time=101.0)
    check.on_read(bond("vf0"), back, cfg, time.monotonic())
    assert counting.closed  # vf1's window ended with the move back
    await asyncio.sleep(0.2)
    await check.close()
    by_move = {e.details["move_time"]: e.details for e in emitted}
    assert by_move[100.0].get("cut_short_by_next_move") is True
    assert "cut_short_by_next_move" not in by_move[101.0]
