"""Netlink link events (RTM_NEWLINK / RTM_DELLINK) as a stream: no polling for MII state.

Intake only: kernel messages become typed observations stamped when the socket delivered them,
never when someone got round to looking at them, so a consumer can tell an event that predates
its last read of the bond (and is therefore already reflected in it) from a new one.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyroute2 import netns as pr_netns
from pyroute2.netlink.rtnl import RTMGRP_LINK
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from vfbond.kernel.fastswitch import Switched

NETLINK_ROUTE = 0
SO_RCVBUFFORCE = 33  # root may exceed net.core.rmem_max (not exported by the socket module)
RCVBUF = 1 << 20  # a burst of link changes (a PF reset takes every VF with it) fits
MAX_QUEUED = 4096  # observations not yet consumed; beyond this, report an overrun and drop


@dataclass(frozen=True)
class LinkEvent:
    gone: bool  # RTM_DELLINK: the interface was removed (VF unplugged)
    index: int
    name: str
    mac: str
    carrier: bool
    operstate: str
    master: int | None
    kind: str | None
    at: float  # time.monotonic() when the socket delivered the message

    @classmethod
    def from_msg(cls, msg: Any, at: float) -> LinkEvent:  # a pyroute2 nlmsg (tuple paths for nested NLAs)
        return cls(
            gone=msg.get("event") == "RTM_DELLINK",
            index=msg["index"],
            name=msg.get("ifname") or "",
            mac=(msg.get("address") or "").lower(),
            carrier=bool(msg.get("carrier")),
            operstate=msg.get("operstate") or "UNKNOWN",
            master=msg.get("master"),
            kind=msg.get(("linkinfo", "kind")),
            at=at,
        )


@dataclass(frozen=True)
class Overrun:
    """The kernel dropped link messages (ENOBUFS): whatever was known may be stale; read it all again."""

    at: float


Observation = LinkEvent | Overrun | Switched
# Sees each raw datagram as it arrives, before any decode (the fast-failover switch); what it
# returns is queued ahead of the datagram's own events.
Tap = Callable[[bytes, float], Switched | None]


@contextmanager
def _in_netns(netns: str | None) -> Iterator[None]:
    if netns is None:
        yield
        return
    pr_netns.pushns(netns)
    try:
        yield
    finally:
        pr_netns.popns()


class LinkWatcher:
    """Subscribes to the RTMGRP_LINK multicast group once and yields every link change.

    The kernel sends RTM_NEWLINK on carrier change, on bond failover (IFLA_EVENT_BONDING_FAILOVER)
    and on slave state change (NETDEV_CHANGELOWERSTATE), so one subscription sees all of them.
    The socket is drained by the event loop whenever it is readable, even while the consumer is
    busy (an apply), so the stamps are the delivery times.
    """

    def __init__(self, netns: str | None = None, rcvbuf: int = RCVBUF, tap: Tap | None = None) -> None:
        self._netns = netns
        self._rcvbuf = rcvbuf
        self._tap = tap
        self._sock: socket.socket | None = None
        self._marshal = MarshalRtnl()
        self._queue: asyncio.Queue[Observation] = asyncio.Queue()
        self._overrun_queued = False  # one Overrun in the queue is enough to trigger the resync
        self._error: OSError | None = None
        self.overruns = 0

    async def start(self) -> None:
        with _in_netns(self._netns):
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self._rcvbuf)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
            sock.bind((0, RTMGRP_LINK))
            sock.setblocking(False)
            asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def _readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self._overrun()
                    continue
                # The socket itself broke: stop reading it and let the consumer see why.
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
                self._error = exc
                self._queue.put_nowait(Overrun(time.monotonic()))
                return
            at = time.monotonic()
            if self._tap is not None and (switched := self._tap(data, at)) is not None:
                self._queue.put_nowait(switched)
            for msg in self._marshal.parse(data):
                if msg.get("event") not in ("RTM_NEWLINK", "RTM_DELLINK"):
                    continue
                if self._queue.qsize() >= MAX_QUEUED:
                    self._overrun()  # the rest is dropped: the resync an overrun triggers covers it
                    break
                self._queue.put_nowait(LinkEvent.from_msg(msg, at))

    def _overrun(self) -> None:
        self.overruns += 1
        if not self._overrun_queued:
            self._overrun_queued = True
            self._queue.put_nowait(Overrun(time.monotonic()))

    async def events(self) -> AsyncIterator[Observation]:
        if self._sock is None:
            await self.start()
        while True:
            observation = await self._queue.get()
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if isinstance(observation, Overrun):
                self._overrun_queued = False
            yield observation

    def close(self) -> None:
        if self._sock is not None:
            asyncio.get_event_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
