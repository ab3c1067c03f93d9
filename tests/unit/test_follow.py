"""`bondctl events --follow`: the backlog, then events as recorded; a slow follower loses events, told."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from vfbond.ctl.control import ControlServer
from vfbond.report.followers import Followers
from vfbond.shared.events import Event, EventType
from vfbond.shared.protocol import follow


def event(i: int) -> Event:
    return Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1", reason=f"#{i}", time=1000.0 + i)


async def test_a_follower_gets_the_backlog_then_each_event_over_the_socket(tmp_path: Path) -> None:
    followers = Followers()
    backlog = [event(0), event(1)]
    server = ControlServer(str(tmp_path / "ctl.sock"), {}, streams={"follow": lambda args: followers.follow(backlog)})
    await server.start()
    try:
        stream = follow(str(tmp_path / "ctl.sock"), "follow")
        got = [await asyncio.to_thread(next, stream) for _ in range(2)]
        assert [e["reason"] for e in got] == ["#0", "#1"]
        assert len(followers) == 1
        reading = asyncio.ensure_future(asyncio.to_thread(lambda: list(itertools.islice(stream, 2))))
        await asyncio.sleep(0.05)
        followers.push(event(2))
        followers.push(event(3))
        assert [e["reason"] for e in await asyncio.wait_for(reading, 5)] == ["#2", "#3"]
        stream.close()
    finally:
        await server.close()


async def test_a_follower_that_does_not_read_loses_events_and_is_told_how_many() -> None:
    followers = Followers(size=2)
    stream = followers.follow([])
    reading = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0)  # registered, waiting for the first event
    for i in range(5):
        followers.push(event(i))  # never blocks, whatever the follower does
    assert (await reading)["reason"] == "#0"
    assert [await stream.__anext__() for _ in range(2)] == [event(1).to_dict(), {"dropped": 3}]
    followers.push(event(5))
    assert await stream.__anext__() == event(5).to_dict()
    assert followers.dropped == 3
    await stream.aclose()
    assert len(followers) == 0
