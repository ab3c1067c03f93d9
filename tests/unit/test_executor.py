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


async def test_no_request_leaves_while_the_armed_switch_is_held_by_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """rtnetlink serves requests under RTNL, which an igbvf switch holds ~1 s from the sender thread: a
    read sent from the loop meanwhile would hold the loop until then (the lab's loop-lag test saw 999 ms)."""
    reads = 0

    async def read_bond(ipr: object, bond: str) -> None:
        nonlocal reads
        reads += 1

    monkeypatch.setattr(executor_mod, "read_bond", read_bond)
    held = asyncio.Event()
    ex = Executor("bond0", None, lambda prev, cur, reason: None, quiet=held.wait)  # type: ignore[arg-type]
    read = asyncio.create_task(ex.refresh())
    await asyncio.sleep(0.01)
    assert reads == 0 and not read.done()
    held.set()  # the kernel answered the switch
    await read
    assert reads == 1


async def test_a_vf_released_by_hand_and_taken_back_before_any_read_saw_it_is_reported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_supervisor import bond

    both, one = bond("vf0"), bond("vf0")
    one.slaves = one.slaves[:1]  # what the kernel has after `ip link set vf1 nomaster`
    kernel = [one, both]

    async def read_bond(ipr: object, name: str) -> object:
        return kernel.pop(0)

    class Ipr:
        async def link(self, *args: object, **kw: object) -> list[dict[str, object]]:
            return [{"ifname": "vf1", "master": None}]

    async def enslave(ipr: object, bond: str, index: int) -> None:
        pass

    monkeypatch.setattr(executor_mod, "read_bond", read_bond)
    monkeypatch.setattr(executor_mod.kernel, "enslave", enslave)
    seen: list[tuple[object, object, str]] = []
    ex = Executor("bond0", Ipr(), lambda prev, cur, reason: seen.append((prev, cur, reason)))  # type: ignore[arg-type]
    ex.state = both  # the last read: vf1 still in the bond
    await ex.enslave(2, lambda name: f"VF returned as {name}: re-enslaved by vfbondd")
    [(prev, cur, reason)] = seen
    assert prev is one and cur is both and "re-enslaved by vfbondd" in reason  # a return, not "no change"


async def test_only_a_read_says_the_lock_is_held_by_a_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The armed switch may overtake a read, never an action: a switch, an enslave, the MAC-lock probe."""
    seen: list[bool] = []

    async def read_bond(ipr: object, bond: str) -> None:
        seen.append(ex.reading)

    async def set_active_slave(ipr: object, bond: int, slave: int) -> None:
        seen.append(ex.reading)

    monkeypatch.setattr(executor_mod, "read_bond", read_bond)
    monkeypatch.setattr(executor_mod.kernel, "set_active_slave", set_active_slave)
    monkeypatch.setattr(executor_mod.kernel, "index", lambda ipr, name: asyncio.sleep(0, 1))
    gate_saw: list[bool] = []

    async def gate() -> None:
        gate_saw.append(ex.lock.locked() and ex.reading)

    ex = Executor("bond0", None, lambda prev, cur, reason: None, read_gate=gate)  # type: ignore[arg-type]
    await ex.refresh()
    await ex.switch("vf1", "test")
    assert seen == [True, False, False] and gate_saw == [True] and not ex.reading
