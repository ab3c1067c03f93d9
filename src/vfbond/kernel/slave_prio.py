"""The bonding driver's per-slave priority (IFLA_BOND_SLAVE_PRIO, kernel 6.0+): the standby lowest, so the
kernel itself never picks it over a VF with link, even while vfbondd is down.

pyroute2 (0.9) does not know the attribute, so the request is built here as `ip link set DEV type
bond_slave prio N` sends it. A kernel before 6.0 parses a slave's data only up to the attributes it
knows and ignores this one: the request succeeds there and changes nothing, and vfbond's own policy
keeps the standby last on every kernel.
"""

from __future__ import annotations

import socket
import struct

from vfbond.kernel.carrier_scan import RTM_NEWLINK
from vfbond.kernel.fastswitch import _ERROR as _ERRNO
from vfbond.kernel.fastswitch import (
    _IFINFOMSG,
    _NLMSGHDR,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    NETLINK_ROUTE,
    NLM_F_ACK,
    NLM_F_REQUEST,
    _nla,
)
from vfbond.kernel.fastswitch import NLMSG_ERROR as _NLMSG_ERROR

IFLA_INFO_SLAVE_DATA = 5
IFLA_BOND_SLAVE_PRIO = 9  # include/uapi/linux/if_link.h, 6.0
STANDBY_PRIO = -1  # below the VFs' default 0: a higher number wins


def prio_request(slave: int, prio: int, seq: int = 1) -> bytes:
    """As iproute2 sends it: kind "bond_slave" (no such link type: the kernel goes by the master's)."""
    linkinfo = _nla(IFLA_LINKINFO, _nla(IFLA_INFO_KIND, b"bond_slave")
                    + _nla(IFLA_INFO_SLAVE_DATA, _nla(IFLA_BOND_SLAVE_PRIO, struct.pack("=i", prio))))
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, slave, 0, 0) + linkinfo
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body


def set_prio(slave: int, prio: int = STANDBY_PRIO) -> int:
    """Set a slave's priority; the kernel's answer: 0, or an errno."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        sock.settimeout(5)
        sock.bind((0, 0))
        sock.send(prio_request(slave, prio))
        reply = sock.recv(65536)
    _, kind, _, _, _ = _NLMSGHDR.unpack_from(reply)
    return -_ERRNO.unpack_from(reply, _NLMSGHDR.size)[0] if kind == _NLMSG_ERROR else 0
