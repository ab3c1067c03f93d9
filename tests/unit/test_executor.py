"""Executor: reads of the bond asked for while one is queued are served by that one read."""

from __future__ import annotations

import asyncio
import time

import pytest

from vfbond.supervise import executor as executor_mod
from vfbond.supervise.executor import Executor


async def test_refreshes_queued_behind_a_busy_lock_share_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = 0

    async def read_bond(ipr: object, bond: str) -> None:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0)

    monkeypatch.setattr(executor_mod, "read_bond", read_bond)
    changes: list[str] = []
    ex = Executor("bond0", None, lambda prev, cur, reason: changes.append(reason))  # type: ignore[arg-type]
    async with ex.lock:  # an action in progress: a burst of link events asks for reads meanwhile
        waiting = [asyncio.create_task(ex.refresh()) for _ in range(50)]
        await asyncio.sleep(0.01)
    await asyncio.gather(*waiting)
    assert reads == 1 and changes == [""]
    await ex.refresh()  # a change after that read began needs a read of its own
    assert reads == 2


async def test_a_refresh_for_a_change_that_a_later_read_already_shows_reads_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A flapping VF: the carrier-loss event asks for a read after vfbondd's own switch already read."""
    reads = 0

    async def read_bond(ipr: object, bond: str) -> None:
        nonlocal reads
        reads += 1

    monkeypatch.setattr(executor_mod, "read_bond", read_bond)
    ex = Executor("bond0", None, lambda prev, cur, reason: None)  # type: ignore[arg-type]
    event_at = time.monotonic()
    await ex.refresh("the switch's read-back")  # begins after the event was received
    await ex.refresh(since=event_at)
    assert reads == 1
    await ex.refresh(since=time.monotonic())  # a change after that read: read again
    assert reads == 2
