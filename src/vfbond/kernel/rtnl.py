"""rtnetlink requests made from a thread of their own, never from the caller's event loop.

The kernel handles an rtnetlink request inside the sender's sendmsg(), under RTNL, so the call waits
for whoever holds RTNL: the bond's own switch on a resetting igbvf PF (seconds, BENCHMARKS.md), a
host's PF reset, NetworkManager's or an operator's `ip link`. A loop that made the call would run
nothing meanwhile: no probes, no control socket, no watchdog.

`Rtnl` is the part of pyroute2's AsyncIPRoute that vfbond uses, in the same shapes (a dump is an
async iterable, any other request a list), so a caller (or a test) may pass either. The AsyncIPRoute
behind it lives on an event loop in one thread: pyroute2 keeps its transport per thread, and one
thread keeps the requests in the order they were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Dump(list[Any]):
    """A dump's messages, read to the end in the thread; iterated with `async for` as AsyncIPRoute's."""

    async def _each(self) -> AsyncIterator[Any]:
        for msg in self:
            yield msg

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._each()


def _async_ip_route() -> Any:
    from pyroute2 import AsyncIPRoute  # here: `import pyroute2` costs seconds under emulation

    return AsyncIPRoute()


class Rtnl:
    def __init__(self, factory: Callable[[], Any] = _async_ip_route) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="vfbond-rtnl", daemon=True)
        self._thread.start()
        self._ipr = self._wait(self._make(factory))
        # A netlink socket runs one dump at a time: the kernel answers EBUSY to a second one started
        # meanwhile. The callers share the socket (the executor, status, simulate-failover's poll), so
        # their dumps wait their turn here instead of retrying against the kernel.
        self._dumping = asyncio.Lock()  # used in the thread's loop only

    async def __aenter__(self) -> Rtnl:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()

    async def link(self, command: str, **kwarg: Any) -> Any:
        return await self._request("link", command, kwarg)

    async def addr(self, command: str, **kwarg: Any) -> Any:
        return await self._request("addr", command, kwarg)

    async def route(self, command: str, **kwarg: Any) -> Any:
        return await self._request("route", command, kwarg)

    def close(self) -> None:
        """Close the socket in its thread and end the thread. A request the kernel still holds keeps
        the thread (a daemon thread) until the kernel answers; nothing waits for it beyond 5 s."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(TimeoutError):
            self._wait(self._close(), timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _request(self, method: str, command: str, kwarg: dict[str, Any]) -> Any:
        # A cancelled caller cancels the request in the thread too (run_coroutine_threadsafe chains them).
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._in_thread(method, command, kwarg), self._loop))

    async def _in_thread(self, method: str, command: str, kwarg: dict[str, Any]) -> Any:
        try:
            if command != "dump":
                return await getattr(self._ipr, method)(command, **kwarg)
            async with self._dumping:
                return Dump([m async for m in await getattr(self._ipr, method)(command, **kwarg)])
        finally:
            self._drop_unclaimed()

    def _drop_unclaimed(self) -> None:
        """Empty pyroute2's queue of messages no request waits for. pyroute2 (0.9.7) stops reading a
        `get` at the answer, and the kernel's ACK that follows lands in that queue, never read: one per
        read of the bond, which held vfbondd at 60 MiB after the benchmark's 80 failovers
        (BENCHMARKS.md). This socket joins no multicast group, so nothing else arrives there."""
        queue = getattr(getattr(self._ipr, "msg_queue", None), "root", None)
        while queue is not None and not queue.empty():
            queue.get_nowait()
            queue.task_done()

    async def _make(self, factory: Callable[[], Any]) -> Any:
        return factory()

    async def _close(self) -> None:
        self._ipr.close()

    def _wait(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` in the thread and block until it is done: only at open and close."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)
