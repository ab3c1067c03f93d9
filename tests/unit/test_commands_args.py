"""Control commands refuse bad arguments as usage errors (the server answers ValueError with USAGE)."""

from __future__ import annotations

from typing import Any

import pytest

from vfbond.daemon.commands import Commands, _count
from vfbond.supervise.pause import Pause, make_pause


class FakeRunning:
    def __init__(self) -> None:
        self.paused: list[tuple[str, float | None]] = []

    def pause(self, reason: str, seconds: float | None) -> Pause:
        self.paused.append((reason, seconds))
        return make_pause(reason, seconds)


def commands() -> tuple[Commands, FakeRunning]:
    running = FakeRunning()
    return Commands(dict, None, None, None, running), running  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [-5, 1e999, "10", True, 10**9])
def test_a_bad_event_count_is_refused(count: Any) -> None:
    with pytest.raises(ValueError, match="count must be a whole number"):
        _count({"count": count}, 50)


def test_counts_default_and_pass() -> None:
    assert _count({}, 50) == 50 and _count({"count": 0}, 50) == 0


@pytest.mark.parametrize("args", [{}, {"reason": ""}, {"reason": "two\nlines"}, {"reason": "x" * 201},
                                  {"reason": "ok", "seconds": 0}, {"reason": "ok", "seconds": 1e999},
                                  {"reason": "ok", "seconds": "15m"}, {"reason": "ok", "seconds": True}])
async def test_a_bad_pause_is_refused_and_nothing_is_paused(args: dict[str, Any]) -> None:
    cmds, running = commands()
    with pytest.raises(ValueError):
        await cmds.pause(args)
    assert running.paused == []


async def test_a_pause_takes_its_reason_and_expiry() -> None:
    cmds, running = commands()
    answer = await cmds.pause({"reason": " CHG-42 ", "seconds": 900})
    assert running.paused == [("CHG-42", 900.0)] and answer["until"] - answer["since"] == 900
