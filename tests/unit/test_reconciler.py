"""The reconciler's loop and turns, with an applier that records what it was asked to do."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vfbond.bond_model import Change, SlaveNotFound
from vfbond.configure.apply import Outcome
from vfbond.shared.events import Event, EventType
from vfbond.supervise import reconciler as reconciler_mod
from vfbond.supervise.pause import PauseFile, make_pause
from vfbond.supervise.reconciler import Reconciler


@dataclass
class FakeBackend:
    name: str = "netlink"


@dataclass
class FakeApplier:
    """Each attempt takes the next result: a list of changes, or an exception to raise."""

    config: Any = field(default_factory=lambda: type("C", (), {"bond": type("B", (), {"name": "bond0"})()})())
    results: list[Any] = field(default_factory=list)
    applying: bool = False
    on_changing: Any = None
    backend: FakeBackend = field(default_factory=FakeBackend)
    tried: asyncio.Event = field(default_factory=asyncio.Event)
    attempts: int = 0
    hold: asyncio.Event | None = None  # an attempt waits here, changing the bond, until set

    async def apply(self, dry_run: bool = False) -> Outcome:
        self.attempts += 1
        result = self.results.pop(0) if self.results else []
        if isinstance(result, Exception):
            raise result
        if result:
            self.applying = True
            if self.on_changing:
                self.on_changing()
            try:
                if self.hold is not None:
                    await self.hold.wait()
            finally:
                self.applying = False
        self.tried.set()
        return Outcome(None, result)  # type: ignore[arg-type]

    async def until_applied(self, give_up: type[Exception] | None = None) -> Outcome:
        while True:
            try:
                return await self.apply()
            except Exception as exc:
                if give_up is not None and isinstance(exc, give_up):
                    raise
                await asyncio.sleep(0)

    def kick(self) -> None:
        pass


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def events() -> list[Event]:
    return []


def make(tmp_path: Path, events: list[Event], conv: FakeApplier) -> Reconciler:
    return Reconciler(conv, events.append, PauseFile(tmp_path / "pause.json"), period=3600)  # type: ignore[arg-type]


async def test_drift_seen_by_the_supervisor_is_repaired_with_one_event_saying_what_and_why(
        tmp_path: Path, events: list[Event]) -> None:
    conv = FakeApplier(results=[[], [Change("bond", None, "bond0", disruptive=True)]])
    rec = make(tmp_path, events, conv)
    loop = asyncio.create_task(rec.run())
    await settle()
    assert conv.attempts == 1 and events == []  # the start: the bond matched, nothing to say
    rec.note_drift("bond0 is gone")
    await settle()
    [ev] = events
    assert ev.type is EventType.CONVERGED and "bond0 is gone" in ev.reason and "bond: None -> 'bond0'" in ev.reason
    assert rec.repairs == 1 and rec.last_repair is not None and rec.last_repair["why"] == "bond0 is gone"
    loop.cancel()


async def test_a_missing_vf_ends_a_repair_pass_quietly_and_its_return_runs_the_next(
        tmp_path: Path, events: list[Event], monkeypatch: pytest.MonkeyPatch) -> None:
    conv = FakeApplier(results=[[], SlaveNotFound("no sriov1", "sriov1 fa:16:3e:00:00:02"),
                                  [Change("slaves", ["vf0"], ["vf0", "vf1"])]])
    rec = make(tmp_path, events, conv)
    loop = asyncio.create_task(rec.run())
    await settle()
    rec.note_drift("vf1 left bond0")
    await settle()
    assert conv.attempts == 2 and events == []  # not retried in a loop, not reported twice
    monkeypatch.setattr(reconciler_mod, "AFTER_RETURN_S", 0.01)
    rec.vf_seen()
    rec.vf_seen()  # every carrier change of the returning VF says so: one pass after them
    await settle()
    assert conv.attempts == 2  # the supervisor's re-enslave goes first
    await asyncio.sleep(0.05)
    await settle()
    assert [e.type for e in events] == [EventType.CONVERGED] and conv.attempts == 3
    loop.cancel()


async def test_no_pass_while_paused_and_resume_repairs_what_drifted_meanwhile(
        tmp_path: Path, events: list[Event]) -> None:
    conv = FakeApplier(results=[[], [Change("miimon", 500, 100)]])
    rec = make(tmp_path, events, conv)
    loop = asyncio.create_task(rec.run())
    await settle()
    rec.pause_for(make_pause("swapping a cable", None))
    rec.note_drift("bond0: miimon 100 -> 500")
    await settle()
    assert conv.attempts == 1 and rec.status()["drift_while_paused"] == "bond0: miimon 100 -> 500"
    assert (tmp_path / "pause.json").exists()  # a restart in the middle of the work keeps it
    assert rec.resume("resumed by the operator")
    await settle()
    assert [e.type for e in events] == [EventType.PAUSED, EventType.RESUMED, EventType.CONVERGED]
    assert "miimon 100 -> 500" in events[1].reason and not (tmp_path / "pause.json").exists()
    loop.cancel()


async def test_a_pause_from_before_a_restart_holds_and_its_expiry_ends_it(
        tmp_path: Path, events: list[Event]) -> None:
    PauseFile(tmp_path / "pause.json").save(make_pause("maintenance", 0.05))
    conv = FakeApplier(results=[[Change("miimon", 500, 100)]])
    rec = make(tmp_path, events, conv)
    loop = asyncio.create_task(rec.run())
    await settle()
    assert conv.attempts == 0 and conv.tried.is_set()  # READY is not held back by the pause
    await asyncio.sleep(0.1)
    await settle()
    assert [e.type for e in events] == [EventType.PAUSED, EventType.RESUMED, EventType.DAEMON]
    assert "expired" in events[1].reason and conv.attempts == 1
    loop.cancel()


async def test_a_reload_interrupts_a_start_that_waits_for_a_vf_and_the_supervisor_adopts_the_new_policy_as_it_applies(
        tmp_path: Path, events: list[Event]) -> None:
    waiting = FakeApplier(results=[SlaveNotFound("x", "sriov1")] * 1000)
    rec = make(tmp_path, events, waiting)
    loop = asyncio.create_task(rec.run())
    await settle()
    new = FakeApplier(results=[[Change("primary", "vf0", "vf1")]], hold=asyncio.Event())
    adopted: list[Any] = []
    async with rec.turn():
        take = asyncio.create_task(rec.take(new, adopted.append))  # type: ignore[arg-type]
        await settle()
        assert rec.applying and adopted == [new.config]  # the new policy judges the apply's moves
        new.hold.set()  # type: ignore[union-attr]
        await take
    assert rec.applier is new and not rec.applying
    loop.cancel()


class FailsMidway(FakeApplier):
    async def apply(self, dry_run: bool = False) -> Outcome:
        self.on_changing()
        raise RuntimeError("sriov1 vanished under the apply")


async def test_a_refused_reload_hands_the_running_policy_back_and_reasserts_the_running_config(
        tmp_path: Path, events: list[Event]) -> None:
    running = FakeApplier(results=[[], [Change("miimon", 200, 100)]])
    rec = make(tmp_path, events, running)
    loop = asyncio.create_task(rec.run())
    await settle()
    new = FailsMidway()
    adopted: list[Any] = []
    with pytest.raises(RuntimeError):
        async with rec.turn():
            await rec.take(new, adopted.append)  # type: ignore[arg-type]
    assert adopted == [new.config, running.config] and rec.applier is running
    await settle()
    assert running.attempts == 2 and [e.type for e in events] == [EventType.CONVERGED]  # put back
    loop.cancel()


async def test_two_reloads_take_turns(tmp_path: Path, events: list[Event]) -> None:
    rec = make(tmp_path, events, FakeApplier())
    order: list[str] = []

    async def reload(name: str, hold: float) -> None:
        async with rec.turn():
            order.append(f"{name} start")
            await asyncio.sleep(hold)
            order.append(f"{name} end")

    await asyncio.gather(reload("first", 0.02), reload("second", 0))
    assert order == ["first start", "first end", "second start", "second end"]


def test_pause_file_survives_garbage(tmp_path: Path) -> None:
    path = tmp_path / "pause.json"
    path.write_text("{not json")
    assert PauseFile(path).load() is None
    pause = make_pause("x", 10, now=time.time())
    PauseFile(path).save(pause)
    assert PauseFile(path).load() == pause


async def test_a_periodic_pass_on_a_matching_bond_has_no_news(tmp_path: Path, events: list[Event]) -> None:
    """A pass a minute: only one that changed the bond re-reads it and re-sends STATUS= (on_applied)."""
    conv = FakeApplier(results=[[], [], [Change("miimon", 500, 100)]])
    applied: list[object] = []
    rec = Reconciler(conv, events.append, PauseFile(tmp_path / "pause.json"),  # type: ignore[arg-type]
                     on_applied=applied.append, period=3600)
    loop = asyncio.create_task(rec.run())
    await settle()
    assert applied == [conv]  # the start
    rec.request("periodic check")
    await settle()
    assert applied == [conv] and conv.attempts == 2  # matched: nothing to say
    rec.note_drift("bond0: miimon 100 -> 500")
    await settle()
    assert applied == [conv, conv] and [e.type for e in events] == [EventType.CONVERGED]
    loop.cancel()
