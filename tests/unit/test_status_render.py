"""bondctl status text: MAC lock, PF-reset outage and the VF driver's last line; the unmonitored path."""

from __future__ import annotations

from typing import Any

from vfbond.ctl.render import render_status
from vfbond.kernel.bond_state import BondState, LinkInfo, SlaveState


def link(index: int, name: str, mac: str, kind: str | None = None) -> LinkInfo:
    return LinkInfo(index=index, name=name, mac=mac, perm_mac=None, kind=kind, master=None, carrier=True,
                    operstate="UP", mtu=1500, driver="igbvf", pci_address="0000:01:10.0")


def data(fail_over_mac: str = "active", probes: str = "enabled", vf: dict[str, Any] | None = None) -> dict[str, Any]:
    slaves = [SlaveState(link(10 + i, f"enp{i + 1}s0v0", f"fa:16:3e:00:00:0{i + 1}"), "backup", "up", 0,
                         f"fa:16:3e:00:00:0{i + 1}") for i in range(2)]
    bond = BondState(link=link(5, "bond0", "fa:16:3e:00:00:01", "bond"), mode="active-backup",
                     active_slave="enp1s0v0", miimon=100, updelay=0, downdelay=0, fail_over_mac=fail_over_mac,
                     primary=None, primary_reselect="always", arp_interval=0, arp_ip_targets=[], num_peer_notif=1,
                     slaves=slaves)
    return {"bond": bond.to_dict(), "source": "vfbondd", "probes": probes, "vf": vf or {}}


LOCKED = {"state": "locked", "why": "refused a MAC change (EADDRNOTAVAIL)", "restore_error": None, "label": "sriov1",
          "text": "sriov1: MAC locked by the host (untrusted VF): refused a MAC change (EADDRNOTAVAIL)"}


def test_a_locked_vf_is_shown_and_warned_about_only_without_fail_over_mac_active() -> None:
    vf = {"slaves": {"enp2s0v0": {"mac_lock": LOCKED}}, "kmsg": {"error": None}}
    text = render_status(data(vf=vf))
    assert "  sriov1: MAC locked by the host (untrusted VF): refused a MAC change (EADDRNOTAVAIL)" in text
    assert "WARNING" not in text
    follow = render_status(data(fail_over_mac="follow", vf=vf))
    assert "WARNING: enp2s0v0's MAC is locked and fail_over_mac=follow" in follow and "trust on" in follow


def test_a_pf_reset_outage_and_the_last_kernel_line_with_its_hint() -> None:
    vf = {"slaves": {"enp1s0v0": {
        "outage": {"down_s": 12.3, "pf_reset": True, "bounced": False, "bounce_after_s": 30},
        "kernel": [{"time": 0, "kind": "pf_resetting", "line": "igbvf 0000:01:10.0: PF still resetting",
                    "hint": "check the PF on the host"}]}},
          "kmsg": {"error": "/dev/kmsg: No such file or directory"}}
    text = render_status(data(vf=vf))
    assert "  enp1s0v0: no carrier for 12s after a PF reset (bounce at 30s)" in text
    assert "igbvf 0000:01:10.0: PF still resetting -> check the PF on the host" in text
    assert "kernel messages not followed: /dev/kmsg: No such file or directory" in text


def test_without_probes_status_says_the_path_is_unmonitored() -> None:
    assert "NOTE: probes off: a dead path with carrier up (forced link state, upstream failure) goes unnoticed; " \
           "enable probes" in render_status(data(probes="disabled"))
    assert "probes off" not in render_status(data(probes="enabled"))


def test_the_last_failover_shows_its_check_unless_the_check_is_older() -> None:
    moved = {"type": "failover", "time": 1000.0, "old_active": "enp1s0v0", "new_active": "enp2s0v0",
             "reason": "carrier loss on enp1s0v0"}
    check = {"type": "failover_unverified", "time": 1003.5,
             "reason": "the backup took over but the gateway does not answer through it: no reply from 192.0.2.1"}
    text = render_status({**data(), "last_failover": moved, "last_check": check})
    assert "  UNVERIFIED: the backup took over but the gateway does not answer through it" in text
    verified = {**check, "type": "failover_verified", "reason": "192.0.2.1 answers through enp2s0v0 41.6 ms after"}
    assert "  verified: 192.0.2.1 answers" in render_status({**data(), "last_failover": moved, "last_check": verified})
    older = {**verified, "time": 990.0}  # the check of an earlier move: this one is not checked yet
    assert "verified" not in render_status({**data(), "last_failover": moved, "last_check": older})
