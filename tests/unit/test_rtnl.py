"""kernel/rtnl.py: requests leave the caller's loop, so a request the kernel holds under RTNL (an
igbvf PF reset: seconds) holds only the thread that made it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import threading
import time
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from vfbond.kernel.rtnl import Rtnl


class HeldIPRoute:
    """Stands in for AsyncIPRoute: each request blocks its thread until released, as a sendmsg()
    waiting for RTNL does; a dump answers two messages."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.threads: set[int] = set()
        self.closed = False

    async def link(self, command: str, **kwarg: Any) -> Any:
        self.threads.add(threading.get_ident())
        self.release.wait(5)
        if command == "dump":
            return self._dump()
        return [{"command": command, **kwarg}]

    async def _dump(self) -> Any:
        for i in range(2):
            yield {"index": i}

    def close(self) -> None:
        self.closed = True


async def test_a_request_the_kernel_holds_does_not_hold_the_callers_loop() -> None:
    held = HeldIPRoute()
    rtnl = Rtnl(factory=lambda: held)
    try:
        request = asyncio.ensure_future(rtnl.link("get", index=7))
        ticks, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 0.3:
            await asyncio.sleep(0.01)
            ticks += 1
        assert not request.done() and ticks >= 10, (request.done(), ticks)
        held.release.set()
        assert await request == [{"command": "get", "index": 7}]
        assert held.threads and threading.get_ident() not in held.threads
    finally:
        rtnl.close()
    assert held.closed


async def test_a_dump_is_read_to_the_end_and_iterated_as_pyroute2s() -> None:
    held = HeldIPRoute()
    held.release.set()
    async with Rtnl(factory=lambda: held) as rtnl:
        assert [m async for m in await rtnl.link("dump")] == [{"index": 0}, {"index": 1}]


async def test_a_cancelled_caller_does_not_wait_for_the_kernel() -> None:
    held = HeldIPRoute()
    async with Rtnl(factory=lambda: held) as rtnl:
        request = asyncio.ensure_future(rtnl.link("set", index=1))
        await asyncio.sleep(0.05)
        request.cancel()
        t0 = time.monotonic()
        with contextlib.suppress(asyncio.CancelledError):
            await request
        assert time.monotonic() - t0 < 0.5
        held.release.set()


class OneDumpAtATime:
    """The kernel's rule for a netlink socket: a dump started while another is being read is EBUSY."""

    def __init__(self) -> None:
        self.reading = False

    async def link(self, command: str, **kwarg: Any) -> Any:
        if self.reading:
            raise NetlinkError(errno.EBUSY, "Device or resource busy")
        self.reading = True
        return self._dump()

    async def _dump(self) -> Any:
        for i in range(3):
            await asyncio.sleep(0.01)  # the rest of the dump still to come
            yield {"index": i}
        self.reading = False

    def close(self) -> None:
        pass


async def test_dumps_from_several_callers_take_turns_on_the_shared_socket() -> None:
    """simulate-failover's poll and the executor's read dump the same socket at once."""
    async with Rtnl(factory=OneDumpAtATime) as rtnl:
        async def dump() -> list[Any]:
            return [m async for m in await rtnl.link("dump")]

        assert await asyncio.gather(*(dump() for _ in range(4))) == [[{"index": i} for i in range(3)]] * 4
