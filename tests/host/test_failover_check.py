"""The check after a move of the active slave (supervise/verify.py) against real veths in namespaces:
one probe out of the new active VF proves the gateway answers through it, and the gratuitous ARPs
and unsolicited NAs that left it are counted. There is no bond here (CI hosts lack the driver): the
two BondState readings stand for the supervisor's reads before and after the switch, and the test
sends the kernel's notification itself, out of the new active VF."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import Ether

from vfbond.config import Config, parse
from vfbond.kernel.bond_state import BondState, LinkInfo, SlaveState
from vfbond.shared.events import Event, EventType
from vfbond.shared.faults import Faults
from vfbond.supervise.verify import FailoverCheck
from vfbond.watch import arp

from .conftest import sh
from .test_probes import BOND_IP, GW4, MACS, inside
from .test_probes import lab as lab  # the fixture: a guest and a switch namespace with the gateway

pytestmark = pytest.mark.host

CONFIG = f"""
bond:
  slaves: [{{label: sriov0, mac: "{MACS['p0']}"}}, {{label: sriov1, mac: "{MACS['p1']}"}}]
  ipv4: {{addresses: [{BOND_IP}/24], gateway: {GW4}}}
backend: netlink
"""
NEW = MACS["p1"]


def config() -> Config:
    return parse(CONFIG)


def reading(active: str) -> BondState:
    def link(name: str, index: int, mac: str) -> LinkInfo:
        return LinkInfo(index=index, name=name, mac=mac, perm_mac=mac, kind="veth", master=9, carrier=True,
                        operstate="UP", mtu=1500)

    slaves = [SlaveState(link(n, i, MACS[n]), "active" if n == active else "backup", "up", 0, MACS[n])
              for i, n in ((1, "p0"), (2, "p1"))]
    return BondState(link=link("bond0", 9, MACS[active]), mode="active-backup", active_slave=active, miimon=100,
                     updelay=0, downdelay=0, fail_over_mac="active", primary="p0", primary_reselect="always",
                     arp_interval=0, arp_ip_targets=[], num_peer_notif=1, slaves=slaves,
                     addresses=[f"{BOND_IP}/24"])


def send(ifname: str, *frames: bytes) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((ifname, 0))
        for frame in frames:
            sock.send(frame)


def unsolicited_na(mac: str, solicited: bool = False) -> bytes:
    return bytes(Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src="2001:db8::10", dst="ff02::1", hlim=255)
                 / ICMPv6ND_NA(tgt="2001:db8::10", R=0, S=int(solicited), O=1) / ICMPv6NDOptDstLLAddr(lladdr=mac))


async def failover(check: FailoverCheck, notify: list[bytes]) -> float:
    """p0 active, then p1 takes over and `notify` leaves p1 as the switch's notifications would;
    returns how long the check held up the read that saw the move."""
    check.on_read(reading("p0"), None, config(), time.monotonic())  # p1 is the backup: its counter opens
    send("p1", *notify)
    moved = Event(EventType.FAILOVER, "bond0", old_active="p0", new_active="p1", reason="carrier loss on p0")
    started = time.monotonic()
    check.on_read(reading("p1"), moved, config(), started)
    return time.monotonic() - started


async def events_within(events: list[Event], count: int, timeout: float) -> list[Event]:
    deadline = time.monotonic() + timeout
    while len(events) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return events


async def test_a_move_onto_a_healthy_backup_is_verified_and_its_notifications_counted(lab: tuple[str, str]) -> None:
    _, switch = lab
    events: list[Event] = []
    faults = Faults()
    check = FailoverCheck(events.append, faults, tries=1, timeout=1.0, margin=0.3)
    # Counted: a gratuitous ARP and an unsolicited NA leaving p1. Not counted: an ordinary ARP
    # request, a solicited NA (an answer to the gateway), and a gratuitous ARP arriving on p1.
    with inside(switch):
        send("sw1", arp.request(MACS["p0"], GW4, GW4))
    held = await failover(check, [arp.request(NEW, BOND_IP, BOND_IP), unsolicited_na(NEW),
                                  arp.request(NEW, GW4, BOND_IP), unsolicited_na(NEW, solicited=True)])
    assert held < 0.05, "the check must not hold up the read that saw the switch"
    [verified] = await events_within(events, 1, 5)
    await check.close()
    assert verified.type is EventType.FAILOVER_VERIFIED, verified
    assert (verified.old_active, verified.new_active) == ("p0", "p1")
    assert verified.details["garp"] == 1 and verified.details["na"] == 1
    assert verified.details["peer_notifications"] == 2
    assert verified.details["target"] == GW4 and verified.details["probes_sent"] == 1
    # No upper bound here: tries=1 with timeout 1.0 already makes a reply after 1 s an unverified move.
    assert 0 < verified.details["rtt_ms"] <= verified.details["reply_ms"]
    assert f"{GW4} answers through p1" in verified.reason and "2 peer notifications" in verified.reason
    assert faults.snapshot()["total"] == 0


async def test_a_blackholed_backup_that_took_over_is_an_alert_and_so_are_peers_left_untold(
        lab: tuple[str, str]) -> None:
    _, switch = lab
    sh(f"ip netns exec {switch} nft 'add table netdev blackhole; add chain netdev blackhole in "
       "{ type filter hook ingress device sw1 priority 0; policy drop; }'")  # this kernel has no tc actions
    events: list[Event] = []
    check = FailoverCheck(events.append, Faults(), tries=2, timeout=0.3, margin=0.3)
    await failover(check, [])
    unverified, untold = await events_within(events, 2, 5)
    await check.close()
    assert unverified.type is EventType.FAILOVER_UNVERIFIED and unverified.severity.name == "ERR"
    assert unverified.reason.startswith("the backup took over but the gateway does not answer through it: "
                                        f"no reply from {GW4} out of p1 to 2 probes")
    assert unverified.details["probes_sent"] == 2 and "reply_ms" not in unverified.details
    assert untold.type is EventType.PEERS_NOT_NOTIFIED and untold.details["peer_notifications"] == 0
    assert "peers keep sending to the old MAC" in untold.reason
