"""IPv6 probe frames: a Neighbor Solicitation out of one slave, and the gateway's advert back.

Built and parsed by hand (fixed layouts, RFC 4861): scapy would cost vfbondd its import time and
tens of MB, and a dissection per reply.
"""

from __future__ import annotations

import socket
import struct

from vfbond.watch.probe_socket import JEQ_K, LD_B_ABS, LD_W_ABS, PACKET_HOST, RET_K, SKF_AD_PKTTYPE, SNAP, Insn

ETH_P_IPV6 = 0x86DD
IPPROTO_ICMPV6 = 58
ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT = 135, 136
ND_OPT_SOURCE_LINKADDR = 1
NA_SOLICITED = 0x40  # the S flag, in the byte after the checksum

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
    hw = bytes.fromhex(mac.replace(":", ""))
    return socket.inet_ntop(socket.AF_INET6, b"\xfe\x80" + b"\0" * 6 + hw[:3] + b"\xff\xfe" + hw[3:])


def _checksum(src: bytes, dst: bytes, icmp: bytes) -> int:
    """The ICMPv6 checksum over the IPv6 pseudo-header (RFC 8200 section 8.1)."""
    data = src + dst + struct.pack("!I3xB", len(icmp), IPPROTO_ICMPV6) + icmp
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))  # NDP messages have an even length
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def solicitation(mac: str, target: str) -> bytes:
    hw = bytes.fromhex(mac.replace(":", ""))
    tgt = socket.inet_pton(socket.AF_INET6, target)
    group = b"\xff\x02" + b"\0" * 9 + b"\x01\xff" + tgt[13:]  # solicited-node multicast
    src = socket.inet_pton(socket.AF_INET6, probe_source(mac))
    icmp = struct.pack("!BBH4x", ND_NEIGHBOR_SOLICIT, 0, 0) + tgt + struct.pack("!BB", ND_OPT_SOURCE_LINKADDR, 1) + hw
    icmp = icmp[:2] + _checksum(src, group, icmp).to_bytes(2, "big") + icmp[4:]
    ipv6 = struct.pack("!IHBB", 6 << 28, len(icmp), IPPROTO_ICMPV6, 255) + src + group
    return b"\x33\x33" + group[12:] + hw + ETH_P_IPV6.to_bytes(2, "big") + ipv6 + icmp


def advertiser(frame: bytes, mac: str) -> str | None:
    """The target address advertised, if `frame` is a solicited NA unicast to `mac`."""
    # The offsets FILTER checks: NDP never carries extension headers, so the NA is at byte 54.
    if len(frame) < 78 or frame[:6] != bytes.fromhex(mac.replace(":", "")) or \
            frame[20] != IPPROTO_ICMPV6 or frame[54] != ND_NEIGHBOR_ADVERT:
        return None
    return socket.inet_ntop(socket.AF_INET6, frame[62:78]) if frame[58] & NA_SOLICITED else None
