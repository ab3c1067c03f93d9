"""Events streamed to `bondctl events --follow` as they are recorded.

Each follower has a bounded queue: a follower that stops reading (a terminal on hold, a pipe nobody
drains) loses events, counted and told to it when it reads again, and never holds up vfbondd.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypedDict

from vfbond.shared.events import Event
from vfbond.shared.status import EventDict

QUEUE = 256  # events; one failover is a handful


class Dropped(TypedDict):
    dropped: int  # events this follower lost since the last it was told


Followed = EventDict | Dropped


class _Follower:
    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(size)
        self.dropped = 0


class Followers:
    def __init__(self, size: int = QUEUE) -> None:
        self.size = size
        self._followers: set[_Follower] = set()
        self.dropped = 0  # all followers, shown in `bondctl status --json`

    def push(self, event: Event) -> None:
        for f in self._followers:
            try:
                f.queue.put_nowait(event)
            except asyncio.QueueFull:
                f.dropped += 1
                self.dropped += 1

    async def follow(self, backlog: list[Event]) -> AsyncIterator[Followed]:
        """`backlog` (the newest recorded events), then every event as it is recorded. Registered
        before the backlog is handed out, in one step of the loop: no event falls between the two."""
        follower = _Follower(self.size)
        self._followers.add(follower)
        try:
            for event in backlog:
                yield event.to_dict()
            while True:
                yield (await follower.queue.get()).to_dict()
                if follower.dropped and follower.queue.empty():  # the lost ones came after those queued
                    yield {"dropped": follower.dropped}
                    follower.dropped = 0
        finally:
            self._followers.discard(follower)

    def __len__(self) -> int:
        return len(self._followers)
