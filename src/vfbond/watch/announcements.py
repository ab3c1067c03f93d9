"""Count the peer notifications leaving one slave: gratuitous ARPs and unsolicited NAs.

After a failover the kernel (num_grat_arp / num_unsol_na) or vfbondd (when those are 0) tells
peers the bond's addresses moved to the new VF's MAC. Whether any did leave is seen only on the
VF itself, outgoing. The kernel sends the first one inside the switch, so the counter must be
open on the backup before it takes over: a backup transmits nothing but probes, so a socket
there costs nothing on the data path (on the active slave every frame sent would be copied to it).
"""

from __future__ import annotations

import asyncio
import socket

from vfbond.watch import arp, ndisc
from vfbond.watch.probe_socket import (
    JEQ_K,
    LD_B_ABS,
    LD_H_ABS,
    LD_W_ABS,
    RET_K,
    SKF_AD_PKTTYPE,
    SNAP,
    Insn,
    open_packet_socket,
)

ETH_P_ALL = 0x0003  # the only binding that is handed transmitted frames
PACKET_OUTGOING = 4

# Outgoing ARP, and outgoing ICMPv6 Neighbor Advertisements (NDP carries no extension headers).
FILTER: tuple[Insn, ...] = (
    (LD_W_ABS, 0, 0, SKF_AD_PKTTYPE),
    (JEQ_K, 0, 8, PACKET_OUTGOING),  # received -> drop
    (LD_H_ABS, 0, 0, 12),  # ethertype
    (JEQ_K, 5, 0, arp.ETH_P_ARP),  # ARP -> accept
    (JEQ_K, 0, 5, ndisc.ETH_P_IPV6),  # neither -> drop
    (LD_B_ABS, 0, 0, 20),  # IPv6 next header
    (JEQ_K, 0, 3, ndisc.IPPROTO_ICMPV6),
    (LD_B_ABS, 0, 0, 54),  # ICMPv6 type
    (JEQ_K, 0, 1, ndisc.ND_NEIGHBOR_ADVERT),
    (RET_K, 0, 0, SNAP),
    (RET_K, 0, 0, 0),
)


def classify(frame: bytes) -> str | None:
    """'garp' for an ARP whose sender and target IP are the same (request or reply form, as
    the kernel and arping send them), 'na' for an unsolicited Neighbor Advertisement (S flag
    clear: the bond's answers to the gateway's solicitations carry it), else None."""
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype == arp.ETH_P_ARP and len(frame) >= 42:
        return "garp" if frame[28:32] == frame[38:42] else None
    if ethertype == ndisc.ETH_P_IPV6 and len(frame) >= 78 and frame[20] == ndisc.IPPROTO_ICMPV6 \
            and frame[54] == ndisc.ND_NEIGHBOR_ADVERT:
        return None if frame[58] & 0x40 else "na"
    return None


class AnnouncementCounter:
    """Counts gratuitous ARPs and unsolicited NAs sent out of `ifname` from now until close()."""

    def __init__(self, ifname: str) -> None:
        self.ifname = ifname
        self.garp = 0
        self.na = 0
        self._sock: socket.socket | None = open_packet_socket(ifname, ETH_P_ALL, FILTER)
        asyncio.get_running_loop().add_reader(self._sock.fileno(), self._on_readable)

    @property
    def total(self) -> int:
        return self.garp + self.na

    def _on_readable(self) -> None:
        if not self._drain():
            self.close()  # the VF went away: what was counted stands

    def _drain(self) -> bool:
        """Count what is queued; False if the socket failed."""
        assert self._sock is not None
        while True:
            try:
                frame = self._sock.recv(SNAP)
            except BlockingIOError:
                return True
            except OSError:
                return False
            kind = classify(frame)
            if kind == "garp":
                self.garp += 1
            elif kind == "na":
                self.na += 1

    def close(self) -> None:
        if self._sock is None:
            return
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._drain()  # a frame sent just before the end still counts
        self._sock.close()
        self._sock = None
