"""A link's driver name, permanent MAC and speed through the SIOCETHTOOL ioctl
(include/uapi/linux/ethtool.h): sysfs has the first two nowhere, and netlink costs pyroute2. None of
the requests needs privilege. Each waits for RTNL (a sleeping lock: call it off the event loop)."""

from __future__ import annotations

import array
import fcntl
import socket
import struct

SIOCETHTOOL = 0x8946
ETHTOOL_GDRVINFO = 0x03  # struct ethtool_drvinfo: u32 cmd, char driver[32], ... (196 bytes)
ETHTOOL_GPERMADDR = 0x20  # struct ethtool_perm_addr: u32 cmd, u32 size, u8 data[size]
ETHTOOL_GSET = 0x01  # struct ethtool_cmd (44 bytes): speed u16 at 12, speed_hi u16 at 28
CMD_SIZE = 44
SPEED_UNKNOWN = 0xFFFFFFFF
DRVINFO_SIZE = 196
MAX_ADDR_LEN = 32
IFREQ = struct.Struct("16sP")  # struct ifreq: the name, then ifr_data pointing at the request
IFREQ_SIZE = 40  # sizeof(struct ifreq) on 64-bit; the kernel copies that much


def _ask(ifname: str, request: bytes) -> bytes | None:
    """`request` as the kernel filled it in, or None: no such link, or its driver does not answer."""
    buf = array.array("B", request)  # the kernel writes through ifr_data: a buffer with a fixed address
    ifreq = IFREQ.pack(ifname.encode(), buf.buffer_info()[0]).ljust(IFREQ_SIZE, b"\0")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            fcntl.ioctl(sock, SIOCETHTOOL, ifreq)
    except OSError:
        return None
    return buf.tobytes()


def driver(ifname: str) -> str | None:
    """The driver's name: for a virtual link the name netlink gives as its kind (veth, dummy, bridge)."""
    reply = _ask(ifname, struct.pack("=I", ETHTOOL_GDRVINFO).ljust(DRVINFO_SIZE, b"\0"))
    if not reply:
        return None
    return reply[4:36].split(b"\0", 1)[0].decode() or None


def permanent_mac(ifname: str) -> str | None:
    """The MAC the hardware came with (netlink's IFLA_PERM_ADDRESS); None for links that have none."""
    reply = _ask(ifname, struct.pack("=II", ETHTOOL_GPERMADDR, MAX_ADDR_LEN) + bytes(MAX_ADDR_LEN))
    if not reply:
        return None
    (size,) = struct.unpack_from("=I", reply, 4)
    data = reply[8:8 + min(size, MAX_ADDR_LEN)]
    return ":".join(f"{b:02x}" for b in data) if any(data) else None


def speed(ifname: str) -> int | None:
    """The link's speed in Mb/s; None when unknown (no carrier) or the driver has none to give.

    Not sysfs's `speed`: that read takes RTNL with a trylock and restarts until it gets it, a busy
    loop for as long as someone holds RTNL (an igbvf PF reset: seconds), which starved the very
    work holding it on a small VM. The ioctl sleeps on the lock instead."""
    reply = _ask(ifname, struct.pack("=I", ETHTOOL_GSET).ljust(CMD_SIZE, b"\0"))
    if not reply:
        return None
    (low,), (high,) = struct.unpack_from("=H", reply, 12), struct.unpack_from("=H", reply, 28)
    mbps = high << 16 | low
    return None if mbps in (0, SPEED_UNKNOWN) else mbps
