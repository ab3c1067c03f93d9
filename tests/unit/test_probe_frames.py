"""Probe frames built and parsed by hand: byte for byte what scapy builds, and the peer notifications
told apart from the rest of what leaves a VF."""

from __future__ import annotations

import socket

import pytest
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.utils6 import in6_getnsma, in6_getnsmac, in6_mactoifaceid

from vfbond.watch import arp, ndisc
from vfbond.watch.announcements import classify

MACS = ("fa:16:3e:00:00:01", "02:00:5e:00:0b:01", "00:11:22:33:44:55")


@pytest.mark.parametrize("mac", MACS)
@pytest.mark.parametrize("sender", [None, "192.0.2.10"])
def test_arp_request_is_what_scapy_builds(mac: str, sender: str | None) -> None:
    expected = Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=mac, psrc=sender or "0.0.0.0", hwdst="00:00:00:00:00:00", pdst="192.0.2.1")
    assert arp.request(mac, "192.0.2.1", sender) == bytes(expected)


@pytest.mark.parametrize("mac", MACS)
@pytest.mark.parametrize("target", ["2001:db8::1", "fe80::1", "2001:db8::abcd:ef12"])
def test_neighbor_solicitation_is_what_scapy_builds(mac: str, target: str) -> None:
    ulbit = (int(mac[:2], 16) >> 1) & 1  # the MAC's own U/L bit: never a SLAAC address
    source = socket.inet_ntop(socket.AF_INET6,
                              socket.inet_pton(socket.AF_INET6, f"fe80::{in6_mactoifaceid(mac, ulbit=ulbit)}"))
    group = in6_getnsma(socket.inet_pton(socket.AF_INET6, target))
    expected = (Ether(src=mac, dst=in6_getnsmac(group))
                / IPv6(src=source, dst=socket.inet_ntop(socket.AF_INET6, group), hlim=255)
                / ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=mac))
    assert ndisc.probe_source(mac) == source
    assert ndisc.solicitation(mac, target) == bytes(expected)


def test_replies_are_parsed_without_scapy() -> None:
    me = MACS[0]
    reply = bytes(Ether(dst=me) / ARP(op=2, hwdst=me, psrc="192.0.2.1", pdst="192.0.2.10"))
    assert arp.replier(reply, me) == "192.0.2.1"
    assert arp.replier(reply, MACS[1]) is None
    assert arp.replier(reply[:41], me) is None
    assert arp.replier(bytes(Ether(dst=me) / ARP(op=1, hwdst=me, psrc="192.0.2.1")), me) is None
    na = bytes(Ether(dst=me) / IPv6() / ICMPv6ND_NA(tgt="2001:db8::1", S=1) / ICMPv6NDOptDstLLAddr(lladdr=MACS[2]))
    assert ndisc.advertiser(na, me) == "2001:db8::1"


def na(solicited: bool) -> bytes:
    return bytes(Ether() / IPv6() / ICMPv6ND_NA(tgt="2001:db8::10", S=int(solicited)) /
                 ICMPv6NDOptDstLLAddr(lladdr=MACS[0]))


def test_peer_notifications_are_told_from_other_arp_and_nd() -> None:
    garp_request = bytes(Ether() / ARP(op=1, psrc="192.0.2.10", pdst="192.0.2.10"))
    garp_reply = bytes(Ether() / ARP(op=2, psrc="192.0.2.10", pdst="192.0.2.10"))
    assert classify(garp_request) == classify(garp_reply) == "garp"
    assert classify(arp.request(MACS[0], "192.0.2.1", "192.0.2.10")) is None  # a question to the gateway
    assert classify(na(solicited=False)) == "na"
    assert classify(na(solicited=True)) is None  # an answer to a solicitation
    assert classify(ndisc.solicitation(MACS[0], "2001:db8::1")) is None
