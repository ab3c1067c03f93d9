"""Kernel lines recorded in the SR-IOV lab and from the drivers' sources, classified without a kernel."""

from __future__ import annotations

import pytest

from vfbond.shared.events import EventType
from vfbond.watch.kernel_events import KernelEvents
from vfbond.watch.kmsg import parse_record
from vfbond.watch.kmsg_rules import KernelObservation, Kind, classify

PCI_NETDEV = {"0000:01:10.0": "enp1s0v0", "0000:02:10.0": "enp2s0v0", "0000:01:00.0": "enp1s0",
              "0000:00:05.0": "ens5", "0000:03:10.0": "enp3s0v0"}
SLAVES = {"enp1s0v0", "enp2s0v0", "ens5"}


def obs(line: str) -> KernelObservation | None:
    return classify(line, bond="bond0", netdev_of=PCI_NETDEV.get, is_slave=SLAVES.__contains__)


@pytest.mark.parametrize(("line", "kind", "slave"), [
    # seen in the lab (QEMU igb PF, igbvf VF)
    ("igbvf 0000:01:10.0: PF still resetting", Kind.PF_RESETTING, "enp1s0v0"),
    ("igbvf 0000:01:10.0: PF still in reset state. Is the PF interface up?", Kind.PF_NOT_READY, "enp1s0v0"),
    ("igbvf 0000:01:10.0 enp1s0v0: Link is Down", Kind.LINK_DOWN, "enp1s0v0"),
    ("igbvf 0000:01:10.0 enp1s0v0: Link is Up 1000 Mbps Full Duplex", Kind.LINK_UP, "enp1s0v0"),
    ("bond0: (slave enp1s0v0): Error -99 calling set_mac_address", Kind.MAC_REFUSED, "enp1s0v0"),
    ("igbvf 0000:01:10.0: Assigning random MAC address.", Kind.RANDOM_MAC, "enp1s0v0"),
    # bonding, current and pre-5.x wording
    ("bond0: (slave enp2s0v0): link status definitely down, disabling slave", Kind.BOND_SLAVE_DOWN, "enp2s0v0"),
    ("bond0: (slave enp2s0v0): link status definitely up, 1000 Mbps full duplex", Kind.BOND_SLAVE_UP, "enp2s0v0"),
    ("bond0: link status definitely down for interface enp2s0v0, disabling it", Kind.BOND_SLAVE_DOWN, "enp2s0v0"),
    # ixgbevf, iavf, mlx5 (driver sources)
    ("ixgbevf 0000:02:10.0: PF still in reset state.  Is the PF interface up?", Kind.PF_NOT_READY, "enp2s0v0"),
    ("ixgbevf 0000:02:10.0 enp2s0v0: NIC Link is Down", Kind.LINK_DOWN, "enp2s0v0"),
    ("ixgbevf 0000:02:10.0: MAC address not assigned by administrator.", Kind.RANDOM_MAC, "enp2s0v0"),
    ("iavf 0000:02:10.0: Failed to add MAC filter, error IAVF_ERR_NVM", Kind.MAC_FILTER_REFUSED, "enp2s0v0"),
    ("iavf 0000:02:10.0: Reset warning received from the PF", Kind.PF_RESETTING, "enp2s0v0"),
    ("iavf 0000:02:10.0: Reset indication received from the PF", Kind.PF_RESETTING, "enp2s0v0"),
    ("iavf 0000:02:10.0 enp2s0v0: NIC Link is Up Speed is 25 Gbps Full Duplex", Kind.LINK_UP, "enp2s0v0"),
    ("mlx5_core 0000:00:05.0 ens5: Link down", Kind.LINK_DOWN, "ens5"),
])
def test_vf_and_bond_lines_become_observations_of_their_slave(line: str, kind: Kind, slave: str) -> None:
    found = obs(line)
    assert found is not None and (found.kind, found.slave) == (kind, slave)
    assert found.text == line


def test_a_vf_without_netdev_yet_is_named_by_its_pci_address() -> None:
    found = obs("igbvf 0000:01:11.0: Assigning random MAC address.")  # re-created VF, probing
    assert found is not None and found.slave is None and found.subject == "0000:01:11.0"
    assert "not found by its configured MAC" in found.hint


def test_a_recreated_vf_whose_netdev_exists_by_now_but_has_no_known_mac_is_still_reported() -> None:
    """Read a moment after the probe, the line's VF has a netdev already, but with a random MAC the bond
    does not know it by: the probe-time lines of a VF driver still count."""
    found = obs("igbvf 0000:03:10.0: Assigning random MAC address.")  # enp3s0v0: in no bond (yet)
    assert found is not None and (found.kind, found.slave) == (Kind.RANDOM_MAC, "enp3s0v0")
    assert obs("igbvf 0000:03:10.0: PF still in reset state. Is the PF interface up?") is not None


@pytest.mark.parametrize("line", [
    "igb 0000:01:00.0: VF 0 attempted to override administratively set MAC address",  # the PF's (host) line
    "igb 0000:01:00.0 enp1s0: igb: enp1s0 NIC Link is Down",  # the PF's own link
    "igb 0000:01:00.0: PF still resetting",  # even with VF wording: igb is a PF and enp1s0 no slave
    "mlx5_core 0000:00:09.0 ens9: Link down",  # a VF driver shared with PFs, not a slave of ours
    "igbvf 0000:03:10.0: PF still resetting",  # a third VF of this VM, in no bond of ours
    "bond1: (slave enp1s0v0): Error -99 calling set_mac_address",  # another bond
    "igbvf 0000:01:10.0: Intel(R) I350 Virtual Function",  # does not matter
    "bond0: (slave enp1s0v0): Error -95 calling set_mac_address",  # cannot set a MAC at all: no host lock
    "vfbond-test: hello",
])
def test_pf_lines_other_bonds_and_chatter_are_ignored(line: str) -> None:
    assert obs(line) is None


def test_what_alerts_and_what_only_feeds_status() -> None:
    assert obs("bond0: (slave enp1s0v0): Error -99 calling set_mac_address").alert  # type: ignore[union-attr]
    assert "trust on" in obs("bond0: (slave enp1s0v0): Error -99 calling set_mac_address").hint  # type: ignore[union-attr]
    assert not obs("igbvf 0000:01:10.0 enp1s0v0: Link is Up 1000 Mbps Full Duplex").alert  # type: ignore[union-attr]
    assert not obs("bond0: (slave enp2s0v0): link status definitely down, disabling slave").alert  # type: ignore[union-attr]


def test_repeats_of_one_line_alert_once_per_hold_then_say_how_many_were_held() -> None:
    now = [100.0]
    events = KernelEvents("bond0", hold=60, clock=lambda: now[0])
    resetting = obs("igbvf 0000:01:10.0: PF still resetting")
    assert resetting is not None
    first = events.event(resetting)
    assert first is not None and first.type is EventType.KERNEL_MESSAGE and first.slave == "enp1s0v0"
    assert first.reason.startswith("igbvf 0000:01:10.0: PF still resetting: the host's PF is resetting")
    assert first.details["kind"] == "pf_resetting" and first.details["pci"] == "0000:01:10.0"
    for _ in range(5):
        now[0] += 10
        assert events.event(resetting) is None
    other = obs("igbvf 0000:02:10.0: PF still resetting")
    assert other is not None and events.event(other) is not None  # another VF is another key
    now[0] += 10
    again = events.event(resetting)
    assert again is not None and again.details["repeats"] == 5 and "(5 more in the last 60s)" in again.reason
    up = obs("igbvf 0000:01:10.0 enp1s0v0: Link is Up 1000 Mbps Full Duplex")
    assert up is not None and events.event(up) is None  # not alerted at all


def test_kmsg_records_parse_with_their_device_dictionary() -> None:
    rec = parse_record(b"3,1042,5123456789,-;igbvf 0000:01:10.0: PF still resetting\n"
                       b" SUBSYSTEM=pci\n DEVICE=+pci:0000:01:10.0\n", at=7.5)
    assert rec is not None
    assert (rec.priority, rec.facility, rec.seq, rec.usec) == (3, 0, 1042, 5123456789)
    assert rec.text == "igbvf 0000:01:10.0: PF still resetting"
    assert rec.fields == {"SUBSYSTEM": "pci", "DEVICE": "+pci:0000:01:10.0"} and rec.at == 7.5
    user = parse_record(b"14,7,99,-;vfbond-test: hello\n")
    assert user is not None and (user.priority, user.facility) == (6, 1)
    assert parse_record(b"garbage without header\n") is None
