"""The carrier of chosen links, read straight out of a raw netlink datagram.

Only for the fast-failover path, and only for the two ifindexes it has cached: pyroute2 decodes
every attribute of every message, which was ~40 % of the path from the carrier-loss message to
the switch request (bench/hotpath.py). Everything else still goes through pyroute2.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Iterator

RTM_NEWLINK = 16
IFLA_CARRIER = 33
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER

_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_NLA = struct.Struct("=HH")  # length, type
_HEADERS = _NLMSGHDR.size + _IFINFOMSG.size


def carriers(data: bytes, indexes: Collection[int]) -> Iterator[tuple[int, bool]]:
    """(ifindex, carrier) for each RTM_NEWLINK in `data` about one of `indexes` that says its carrier.

    Stops at the first malformed length rather than guess: the full decode still sees the datagram.
    """
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind = _NLMSGHDR.unpack_from(data, offset)[:2]
        end = offset + length
        if length < _NLMSGHDR.size or end > len(data):
            return
        if kind == RTM_NEWLINK and length >= _HEADERS:
            index = _IFINFOMSG.unpack_from(data, offset + _NLMSGHDR.size)[2]
            if index in indexes and (carrier := _u8(data, offset + _HEADERS, end, IFLA_CARRIER)) is not None:
                yield index, bool(carrier)
        offset += (length + 3) & ~3


def _u8(data: bytes, offset: int, end: int, wanted: int) -> int | None:
    """The one-byte payload of the top-level attribute `wanted`, if present."""
    while offset + _NLA.size <= end:
        length, kind = _NLA.unpack_from(data, offset)
        if length < _NLA.size or offset + length > end:
            return None
        if kind & NLA_TYPE_MASK == wanted:
            return data[offset + _NLA.size] if length > _NLA.size else None
        offset += (length + 3) & ~3
    return None
