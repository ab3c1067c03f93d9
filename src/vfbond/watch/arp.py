"""ARP probe frames: a request out of one slave, and recognising the gateway's reply to it.

Built and parsed by hand (a fixed 42-byte layout): scapy would cost vfbondd its import time and
tens of MB, and a dissection per reply.
"""

from __future__ import annotations

import socket
import struct

from vfbond.watch.probe_socket import JEQ_K, LD_H_ABS, LD_W_ABS, PACKET_HOST, RET_K, SKF_AD_PKTTYPE, SNAP, Insn

ETH_P_ARP = 0x0806
ARPOP_REQUEST, ARPOP_REPLY = 1, 2

# Accept ARP replies unicast to this slave's MAC; everything else stays in the kernel.
FILTER: tuple[Insn, ...] = (
    (LD_W_ABS, 0, 0, SKF_AD_PKTTYPE),
    (JEQ_K, 0, 3, PACKET_HOST),  # not for our MAC -> drop
    (LD_H_ABS, 0, 0, 20),  # ARP opcode (14-byte Ethernet header + 6)
    (JEQ_K, 0, 1, ARPOP_REPLY),  # not a reply -> drop
    (RET_K, 0, 0, SNAP),
    (RET_K, 0, 0, 0),
)


def request(mac: str, target: str, sender_ip: str | None) -> bytes:
    """Broadcast who-has `target` from `mac`.

    Without a sender IP this is an RFC 5227 ARP probe (sender 0.0.0.0): the gateway still replies
    to `mac`, but nobody on the segment updates a cache entry. With one, every host that caches
    that IP re-points it at `mac`, so only the active slave (whose MAC the bond carries under
    fail_over_mac=active) may use the bond's address.
    """
    hw = bytes.fromhex(mac.replace(":", ""))
    return b"\xff" * 6 + hw + struct.pack("!HHHBBH", ETH_P_ARP, 1, 0x0800, 6, 4, ARPOP_REQUEST) + hw \
        + socket.inet_aton(sender_ip or "0.0.0.0") + b"\0" * 6 + socket.inet_aton(target)


def replier(frame: bytes, mac: str) -> str | None:
    """The IP that answered, if `frame` is an ARP reply addressed to `mac`."""
    if len(frame) < 42 or frame[12:14] != ETH_P_ARP.to_bytes(2, "big") or \
            frame[20:22] != ARPOP_REPLY.to_bytes(2, "big") or frame[32:38] != bytes.fromhex(mac.replace(":", "")):
        return None
    return socket.inet_ntoa(frame[28:32])  # the sender's IP
