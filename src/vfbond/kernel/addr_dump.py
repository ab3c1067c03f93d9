"""A link's addresses from one RTM_GETADDR dump on a plain netlink socket: what bond_state.addresses
reads through pyroute2, for readers that must not pay pyroute2's import (bondctl without vfbondd)."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator

NETLINK_ROUTE = 0
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLM_F_REQUEST, NLM_F_DUMP = 0x001, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFA_ADDRESS = 1
NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, link index
RTATTR = struct.Struct("=HH")  # length, type


def _align(n: int) -> int:
    return (n + 3) & ~3


def _messages(sock: socket.socket) -> Iterator[bytes]:
    """The payload of each RTM_NEWADDR of the dump, until NLMSG_DONE."""
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + NLMSGHDR.size <= len(data):
            length, kind = NLMSGHDR.unpack_from(data, offset)[:2]
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                (code,) = struct.unpack_from("=i", data, offset + NLMSGHDR.size)
                raise OSError(-code, f"RTM_GETADDR dump: {os.strerror(-code)}")
            if kind == RTM_NEWADDR:
                yield data[offset + NLMSGHDR.size:offset + length]
            offset += _align(length)


def _address(payload: bytes) -> tuple[int, str] | None:
    """(link index, address/prefix) of one message; None without IFA_ADDRESS."""
    family, prefixlen, _flags, _scope, index = IFADDRMSG.unpack_from(payload)
    offset = IFADDRMSG.size
    while offset + RTATTR.size <= len(payload):
        length, kind = RTATTR.unpack_from(payload, offset)
        if length < RTATTR.size:
            break
        if kind == IFA_ADDRESS:
            value = payload[offset + RTATTR.size:offset + length]
            return index, f"{socket.inet_ntop(family, value)}/{prefixlen}"
        offset += _align(length)
    return None


def addresses(index: int) -> list[str]:
    """Link `index`'s addresses as CIDR, sorted, link-local IPv6 left out (as bond_state.addresses)."""
    request = IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    header = NLMSGHDR.pack(NLMSGHDR.size + len(request), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        sock.send(header + request)
        found = [a for a in map(_address, _messages(sock)) if a and a[0] == index]
    return sorted(cidr for _, cidr in found if not cidr.lower().startswith("fe80:"))
