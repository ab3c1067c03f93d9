"""The fast-failover switch, decided and built before it is needed, sent the moment it is.

The supervisor arms it after each read of the bond with what a carrier loss on the active slave
would call for. The link watcher hands it every raw datagram before any decode; when one says
the active slave lost carrier, the pre-built IFLA_BOND_ACTIVE_SLAVE request goes out on this
module's own socket: no await, no pyroute2, no lock between the kernel's message and the request.

rtnetlink handles a request inside the sender's system call, under RTNL: the send returns with
the kernel's answer. On igbvf that is seconds (bonding flushes the old VF's filters through the
mailbox of a PF that is resetting), and the event loop must not be held that long (no probes, no
control socket, no watchdog meanwhile). So the request goes out from one thread of its own,
started with the socket: the reader callback hands it over and returns.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from concurrent.futures import Future, ThreadPoolExecutor
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
class Answer:
    """The kernel's answer to the armed request. `error`: 0, an errno, or -1 for none read."""

    sent: float  # time.monotonic() when the request went out
    answered: float  # ... and when the kernel had answered it (igbvf: seconds later, see BENCHMARKS.md)
    error: int


@dataclass(frozen=True)
class Switched:
    """The armed request was handed to the sender thread; `answer` completes when the kernel answered."""

    plan: Plan
    at: float  # time.monotonic() when the message (or kernel line) saying the carrier was lost arrived
    seen: str  # what said so: "the event", or a VF driver's line
    answer: Future[Answer]


class FastSwitch:
    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._sender: ThreadPoolExecutor | None = None
        self._plan: Plan | None = None
        self._request = b""
        self._seq = 0
        self._pending: Future[Answer] | None = None  # the last request sent, until the kernel answers it

    def open(self) -> None:
        """Its own socket: the request must not queue behind a dump on the supervisor's. Its thread
        starts now, not at the first failover, which must be as fast as the tenth."""
        if self._sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
            sock.bind((0, 0))
            self._sock = sock
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="vfbond-fastswitch")
            self._sender.submit(time.monotonic).result()

    def close(self) -> None:
        if self._sender is not None:
            self._sender.shutdown(wait=False, cancel_futures=True)  # a send the kernel holds ends with the socket
            self._sender = None
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
        if plan is None or self._sender is None or has_carrier(plan.active_name):
            return None
        self._plan = None  # once: the supervisor arms again after reading the bond
        answer = self._pending = self._sender.submit(self._send, self._request, self._seq)
        time.sleep(0)  # let the sender thread take the GIL now, not at the loop's next switch interval
        return Switched(plan, at, seen, answer)

    async def answered(self) -> None:
        """Until the kernel has answered the last request: until then the bond is halfway through
        the switch, and a read would show it so."""
        pending = self._pending
        if pending is not None and not pending.done():
            await asyncio.wrap_future(pending)

    def _send(self, request: bytes, seq: int) -> Answer:
        """In the sender thread: the request and the kernel's answer to it."""
        assert self._sock is not None
        sent = time.monotonic()
        try:
            self._sock.send(request)
        except OSError as exc:
            return Answer(sent, time.monotonic(), exc.errno or -1)
        return Answer(sent, time.monotonic(), self._read_answer(seq))

    def _read_answer(self, seq: int) -> int:
        assert self._sock is not None
        while True:  # the answer is already queued; skip any left from an earlier request
            try:
                reply = self._sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return -1
            except OSError as exc:
                return exc.errno or -1
            if len(reply) >= _NLMSGHDR.size + _ERROR.size:
                _, kind, _, got, _ = _NLMSGHDR.unpack_from(reply)
                if kind == NLMSG_ERROR and got == seq:
                    return -_ERROR.unpack_from(reply, _NLMSGHDR.size)[0]
