"""AF_PACKET sockets bound to one slave, with an in-kernel filter so only probe replies wake us.

A socket bound to a protocol (ETH_P_ARP, ETH_P_IPV6) rather than ETH_P_ALL is never handed
transmitted frames and never sees other protocols, so data traffic on the active slave costs
nothing; the classic BPF program then drops everything but replies to this slave's own MAC.
Packet sockets bound to a slave still receive on an inactive bonding slave: bonding returns
RX_HANDLER_EXACT there, which delivers to handlers bound to that exact device.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Sequence

SO_ATTACH_FILTER = 26  # not exported by Python's socket module
PACKET_HOST = 0  # frame addressed to this interface's own MAC
SKF_AD_PKTTYPE = 0xFFFFF000 + 4  # SKF_AD_OFF + SKF_AD_PKTTYPE: load skb->pkt_type

# Classic BPF opcodes (linux/filter.h).
LD_W_ABS, LD_H_ABS, LD_B_ABS = 0x20, 0x28, 0x30
JEQ_K = 0x15
RET_K = 0x06
SNAP = 256  # replies are < 100 bytes; never copy more

Insn = tuple[int, int, int, int]  # code, jt, jf, k


def _attach_filter(sock: socket.socket, program: Sequence[Insn]) -> None:
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *insn) for insn in program))
    fprog = struct.pack("HL", len(program), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_packet_socket(ifname: str, ethertype: int, program: Sequence[Insn]) -> socket.socket:
    """A non-blocking packet socket on `ifname`, receiving only what `program` accepts.

    The filter goes on before bind(): protocol 0 receives nothing, so no unfiltered frame can
    be queued in between. Raises OSError(ENODEV) if the interface does not exist.
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
    try:
        _attach_filter(sock, program)
        sock.bind((ifname, ethertype))
    except BaseException:
        sock.close()
        raise
    return sock


def hw_address(sock: socket.socket) -> str:
    """The bound interface's MAC, as the kernel reports it for the socket (no extra lookup)."""
    return sock.getsockname()[4].hex(":")
