"""The link watcher sees carrier loss, return and removal through netlink events, fast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from vfbond.watch.links import LinkEvent, LinkWatcher, Observation, Overrun

from .conftest import sh

pytestmark = pytest.mark.host


async def _next(stream, name: str, want, timeout: float = 2.0) -> LinkEvent:
    async def find() -> LinkEvent:
        async for ev in stream:
            if isinstance(ev, LinkEvent) and ev.name == name and want(ev):
                return ev
        raise AssertionError("stream ended")
    return await asyncio.wait_for(find(), timeout)


@asynccontextmanager
async def cabled_vf0(ns: str) -> AsyncIterator[AsyncIterator[Observation]]:
    """A watcher's stream in `ns`, with vf0 created, cabled and seen up."""
    watcher = LinkWatcher(netns=ns)
    await watcher.start()
    stream = watcher.events()
    try:
        sh(f"ip -n {ns} link add vf0 address fa:16:3e:00:00:01 type veth peer name sw0")
        sh(f"ip -n {ns} link set vf0 up && ip -n {ns} link set sw0 up")
        await _next(stream, "vf0", lambda e: e.carrier)
        yield stream
    finally:
        await stream.aclose()
        watcher.close()


async def test_carrier_drop_return_and_removal_within_100ms(netns) -> None:
    ns = netns()
    async with cabled_vf0(ns) as stream:
        t0 = time.monotonic()
        sh(f"ip -n {ns} link set sw0 down")
        down = await _next(stream, "vf0", lambda e: not e.carrier)
        drop_ms = (down.at - t0) * 1000
        print(f"\ncarrier drop seen after {drop_ms:.1f} ms")
        assert down.mac == "fa:16:3e:00:00:01"
        assert drop_ms < 100

        t0 = time.monotonic()
        sh(f"ip -n {ns} link set sw0 up")
        up = await _next(stream, "vf0", lambda e: e.carrier)
        print(f"carrier return seen after {(up.at - t0) * 1000:.1f} ms")
        assert (up.at - t0) < 0.1

        sh(f"ip -n {ns} link del vf0")
        gone = await _next(stream, "vf0", lambda e: e.gone)
        assert gone.gone and gone.mac == "fa:16:3e:00:00:01"


async def test_events_are_stamped_when_delivered_not_when_consumed(netns) -> None:
    """A consumer busy elsewhere (an apply) must still see when each event happened."""
    ns = netns()
    async with cabled_vf0(ns) as stream:
        t0 = time.monotonic()
        sh(f"ip -n {ns} link set sw0 down")
        await asyncio.sleep(0.5)  # the consumer is busy; the loop is not
        down = await _next(stream, "vf0", lambda e: not e.carrier)
        print(f"\nstamped {(down.at - t0) * 1000:.1f} ms after the change, "
              f"consumed {(time.monotonic() - t0) * 1000:.0f} ms after")
        assert down.at - t0 < 0.2


async def test_overrun_is_reported_and_the_stream_goes_on(netns) -> None:
    """ENOBUFS (the kernel dropped messages) becomes an Overrun observation, not a dead watcher."""
    ns = netns()
    watcher = LinkWatcher(netns=ns, rcvbuf=4096)
    await watcher.start()
    stream = watcher.events()
    try:
        # The loop is blocked while the kernel queues 200 link messages into a 4 KB buffer.
        sh(f"ip -n {ns} link add vf0 type veth peer name sw0")
        sh("; ".join(f"ip -n {ns} link set vf0 {'up' if i % 2 else 'down'}" for i in range(200)))
        overrun = await asyncio.wait_for(_first(stream, lambda o: isinstance(o, Overrun)), 5)
        assert overrun.at > 0 and watcher.overruns >= 1
        sh(f"ip -n {ns} link del vf0")
        assert (await _next(stream, "vf0", lambda e: e.gone)).gone
    finally:
        await stream.aclose()
        watcher.close()


async def _first(stream, want):
    async for ob in stream:
        if want(ob):
            return ob
    raise AssertionError("stream ended")
