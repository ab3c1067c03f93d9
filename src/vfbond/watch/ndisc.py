"""IPv6 probe frames: a Neighbor Solicitation out of one slave, and the gateway's advert back."""

from __future__ import annotations

import socket

from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import Ether
from scapy.utils6 import in6_getnsma, in6_getnsmac, in6_mactoifaceid

from vfbond.watch.probe_socket import JEQ_K, LD_B_ABS, LD_W_ABS, PACKET_HOST, RET_K, SKF_AD_PKTTYPE, SNAP, Insn

ETH_P_IPV6 = 0x86DD
IPPROTO_ICMPV6 = 58
ND_NEIGHBOR_ADVERT = 136

# Accept ICMPv6 Neighbor Advertisements unicast to this slave's MAC.
FILTER: tuple[Insn, ...] = (
    (LD_W_ABS, 0, 0, SKF_AD_PKTTYPE),
    (JEQ_K, 0, 5, PACKET_HOST),  # not for our MAC -> drop
    (LD_B_ABS, 0, 0, 20),  # IPv6 next header (14 + 6)
    (JEQ_K, 0, 3, IPPROTO_ICMPV6),
    (LD_B_ABS, 0, 0, 54),  # ICMPv6 type (14 + 40)
    (JEQ_K, 0, 1, ND_NEIGHBOR_ADVERT),
    (RET_K, 0, 0, SNAP),
    (RET_K, 0, 0, 0),
)


def probe_source(mac: str) -> str:
    """The link-local source for this slave's solicitations.

    A source address (not ::) makes the gateway answer unicast to this slave; with :: it would
    answer all-nodes and both slaves would see the reply. The EUI-64 keeps the MAC's U/L bit
    unflipped, so it never equals a SLAAC address: in particular not the bond's own link-local,
    which the gateway would otherwise re-point at a backup slave's MAC.
    """
    ulbit = (int(mac[:2], 16) >> 1) & 1
    address = f"fe80::{in6_mactoifaceid(mac, ulbit=ulbit)}"
    return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, address))


def solicitation(mac: str, target: str) -> bytes:
    group = in6_getnsma(socket.inet_pton(socket.AF_INET6, target))  # solicited-node multicast
    frame = (Ether(src=mac, dst=in6_getnsmac(group))
             / IPv6(src=probe_source(mac), dst=socket.inet_ntop(socket.AF_INET6, group), hlim=255)
             / ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=mac))
    return bytes(frame)


def advertiser(frame: bytes, mac: str) -> str | None:
    """The target address advertised, if `frame` is a solicited NA unicast to `mac`."""
    # The offsets FILTER checks: NDP never carries extension headers, so the NA is at byte 54.
    if len(frame) < 78 or frame[:6] != bytes.fromhex(mac.replace(":", "")) or \
            frame[20] != IPPROTO_ICMPV6 or frame[54] != ND_NEIGHBOR_ADVERT:
        return None
    na = ICMPv6ND_NA(frame[54:])  # dissecting this layer alone costs a fifth of Ether(frame)
    return str(na.tgt) if na.S else None
