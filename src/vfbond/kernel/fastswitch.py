"""The fast-failover switch, decided and built before it is needed, sent the moment it is.

The supervisor arms it after each read of the bond with what a carrier loss on the active slave
would call for. The link watcher hands it every raw datagram before any decode; when one says
the active slave lost carrier, the pre-built IFLA_BOND_ACTIVE_SLAVE request goes out on this
module's own socket from inside the reader callback: no await, no pyroute2, no lock between the
kernel's message and the request. rtnetlink handles a request inside the sender's system call,
so the kernel's answer is waiting on the socket when the send returns.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

from vfbond.kernel.actions import has_carrier
from vfbond.kernel.carrier_scan import RTM_NEWLINK, carriers

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
NLA_F_NESTED = 0x8000
IFLA_LINKINFO, IFLA_INFO_KIND, IFLA_INFO_DATA = 18, 1, 2
IFLA_BOND_ACTIVE_SLAVE = 2

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_NLA = struct.Struct("=HH")
_ERROR = struct.Struct("=i")


def _nla(kind: int, payload: bytes) -> bytes:
    return _NLA.pack(_NLA.size + len(payload), kind) + payload + b"\0" * (-len(payload) % 4)


def active_slave_request(bond: int, slave: int, seq: int) -> bytes:
    """RTM_NEWLINK on the bond with linkinfo {kind bond, data {active_slave}}, as `ip link set
    bond0 type bond active_slave X` sends it (the kind is needed for the kernel to read the data)."""
    linkinfo = _nla(IFLA_LINKINFO | NLA_F_NESTED,
                    _nla(IFLA_INFO_KIND, b"bond\0")
                    + _nla(IFLA_INFO_DATA | NLA_F_NESTED, _nla(IFLA_BOND_ACTIVE_SLAVE, struct.pack("=I", slave))))
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, bond, 0, 0) + linkinfo
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body


@dataclass(frozen=True)
class Plan:
    """What a carrier loss on the active slave calls for, decided while nothing is happening."""

    bond: int
    active: int  # ifindex
    active_name: str
    target: int  # ifindex
    target_name: str
    reason: str  # the decision's, e.g. "carrier loss on vf0"


@dataclass(frozen=True)
class Switched:
    """The armed request went out. `error` is the kernel's answer: 0, an errno, or -1 for none read."""

    plan: Plan
    at: float  # time.monotonic() when the message (or kernel line) saying the carrier was lost arrived
    sent: float  # time.monotonic() when the request went out
    answered: float  # ... and when the kernel had answered it (igbvf: seconds later, see BENCHMARKS.md)
    seen: str  # what said so: "the event", or a VF driver's line
    error: int


class FastSwitch:
    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._plan: Plan | None = None
        self._request = b""
        self._seq = 0

    def open(self) -> None:
        """Its own socket: the request must not queue behind a dump on the supervisor's."""
        if self._sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
            sock.bind((0, 0))
            self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def plan(self) -> Plan | None:
        return self._plan

    def arm(self, plan: Plan | None) -> None:
        if plan != self._plan:
            self._plan = plan
            if plan is not None:
                self._seq += 1
                self._request = active_slave_request(plan.bond, plan.target, self._seq)

    def on_datagram(self, data: bytes, at: float) -> Switched | None:
        """Fire if `data` says the active slave lost carrier; disarm if it says the target did."""
        plan = self._plan
        if plan is None:
            return None
        for index, carrier in carriers(data, (plan.active, plan.target)):
            if carrier:
                continue
            if index == plan.target:
                self._plan = None  # no good target left: the supervisor decides after its read
                return None
            return self.fire(at, "the event")
        return None

    def fire(self, at: float, seen: str) -> Switched | None:
        """Send the armed request once; None when not armed, or when the active slave has carrier
        after all (a stale message: an enslave's carrier=0 whose carrier=1 is already in sysfs)."""
        plan = self._plan
        if plan is None or self._sock is None or has_carrier(plan.active_name):
            return None
        self._plan = None  # once: the supervisor arms again after reading the bond
        sent = time.monotonic()
        error = self._send()
        return Switched(plan, at, sent, time.monotonic(), seen, error)

    def _send(self) -> int:
        assert self._sock is not None
        try:
            self._sock.send(self._request)
        except OSError as exc:
            return exc.errno or -1
        while True:  # the answer is already queued; skip any left from an earlier request
            try:
                reply = self._sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return -1
            except OSError as exc:
                return exc.errno or -1
            if len(reply) >= _NLMSGHDR.size + _ERROR.size:
                _, kind, _, seq, _ = _NLMSGHDR.unpack_from(reply)
                if kind == NLMSG_ERROR and seq == self._seq:
                    return -_ERROR.unpack_from(reply, _NLMSGHDR.size)[0]
