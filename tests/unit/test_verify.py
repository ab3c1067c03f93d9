"""The failover check's pure parts and its fault handling, without sockets."""

from __future__ import annotations

import errno
from dataclasses import replace

import pytest

from vfbond.config import Config, parse
from vfbond.shared.events import Event
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
    """The first leaves at the switch, then one per miimon tick (bond_options.sh: num_grat_arp)."""
    assert notify_window(replace(bond("vf1"), num_peer_notif=3, miimon=1000), margin=2.0) == 4.0
    assert notify_window(replace(bond("vf1"), num_peer_notif=1, miimon=100), margin=2.0) == 2.0
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
