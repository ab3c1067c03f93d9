"""A reload rebuilds only the alert sinks whose own settings changed: the others keep their queue (events
waiting for a receiver that is down) and their counts, so a Prometheus counter never goes back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from functools import partialmethod
from typing import Any

import pytest

from tests.unit.test_reload_and_apply import CONFIG as BOND
from vfbond.config import Config, SyslogTarget, parse
from vfbond.configure.applier import Applier
from vfbond.daemon.wiring import RunningSet, build_beside, discard, make_alerts
from vfbond.shared.events import Event, EventType
from vfbond.sinks import SinkQueue

CONFIG = BOND + """\
alerts:
  queue_size: 10
  syslog:
    - {host: 192.0.2.10, protocol: tcp}
    - {host: 192.0.2.11, protocol: tcp}
"""
DOWN, UP = "syslog 192.0.2.10", "syslog 192.0.2.11"


class FakeSink:
    """A receiver that refuses while `down`; named by host, as the real sinks are."""

    def __init__(self, name: str, down: bool) -> None:
        self.name = name
        self.down = down
        self.got: list[str] = []
        self.closed = False

    async def send(self, event: Event) -> None:
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        self.got.append(event.reason)

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[FakeSink]:
    """Every sink built, in order; the first syslog server is down."""
    sinks: list[FakeSink] = []

    def build_sink(spec: Any, **_: Any) -> FakeSink:
        name = f"syslog {spec.host}" if isinstance(spec, SyslogTarget) else "journal"
        sinks.append(FakeSink(name, down=name == DOWN))
        return sinks[-1]

    monkeypatch.setattr("vfbond.sinks.build_sink", build_sink)
    monkeypatch.setattr(SinkQueue, "__init__", partialmethod(SinkQueue.__init__, retry_initial=0.01, retry_max=0.02))
    return sinks


async def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def running_with_queued(config: Config, n: int) -> RunningSet:
    """A running set whose DOWN sink holds `n` alerts and has retried them."""
    old = RunningSet(config, make_alerts(config), None, Applier(config, None))  # type: ignore[arg-type]
    old.alerts.start()
    for i in range(n):
        old.alerts.publish(Event(EventType.FAILOVER, "bond0", reason=f"#{i}"))
    await wait_for(lambda: old.alerts.stats()[DOWN]["retries"] >= 2 and old.alerts.stats()[UP]["delivered"] == n)
    return old


async def reload(new: Config, old: RunningSet) -> RunningSet:
    """What RunningConfig.reload does with the sinks: build beside, go live, close what is left."""
    running = await build_beside(new, old, None, lambda *a: None, lambda _t: None, check_plan=False)  # type: ignore[arg-type]
    if running.alerts is not old.alerts:
        await running.alerts.take_over(old.alerts)
    await discard(old, running)
    return running


async def test_a_flap_limit_reload_keeps_every_sink_its_queued_alerts_and_its_counts(built: list[FakeSink]) -> None:
    old_config = parse(CONFIG)
    old = await running_with_queued(old_config, 5)
    before = old.alerts.stats()
    running = await reload(replace(old_config, alerts=replace(old_config.alerts, flap_limit=3)), old)
    assert len(built) == 3 and not any(sink.closed for sink in built)  # journal + two servers, built once
    after = running.alerts.stats()
    assert after[DOWN]["queued"] == 5 and after[DOWN]["retries"] >= before[DOWN]["retries"]
    assert after[UP]["delivered"] == 5
    built[1].down = False  # the receiver is back: it gets every alert queued before the reload, in order
    await wait_for(lambda: running.alerts.stats()[DOWN]["delivered"] == 5)
    assert built[1].got == [f"#{i}" for i in range(5)]
    await running.alerts.close(timeout=0)


async def test_a_smaller_queue_size_applies_at_the_swap_and_drops_nothing_queued(built: list[FakeSink]) -> None:
    old_config = parse(CONFIG)
    old = await running_with_queued(old_config, 5)
    new = replace(old_config, alerts=replace(old_config.alerts, queue_size=3))
    running = await build_beside(new, old, None, lambda *a: None, lambda _t: None, check_plan=False)  # type: ignore[arg-type]
    assert [q.size for q in old.alerts.queues] == [10, 10, 10]  # built, not live: a refused reload changes nothing
    await running.alerts.take_over(old.alerts)
    await discard(old, running)
    assert len(built) == 3 and [q.size for q in running.alerts.queues] == [3, 3, 3]
    running.alerts.publish(Event(EventType.FAILOVER, "bond0", reason="#5"))
    stats = running.alerts.stats()[DOWN]
    assert (stats["queued"], stats["dropped"]) == (5, 1)
    await running.alerts.close(timeout=0)


async def test_a_sink_whose_settings_changed_is_rebuilt_and_continues_the_old_ones_alerts_and_counts(
        built: list[FakeSink]) -> None:
    old_config = parse(CONFIG)
    old = await running_with_queued(old_config, 5)
    old.alerts.queues[1].size = 4  # four waiting, one in flight: full
    old.alerts.publish(Event(EventType.FAILOVER, "bond0", reason="#5"))  # dropped by DOWN, counted
    before = old.alerts.stats()[DOWN]
    syslog = (replace(old_config.alerts.syslog[0], app_name="vfbond-vm1"), old_config.alerts.syslog[1])
    running = await reload(replace(old_config, alerts=replace(old_config.alerts, syslog=syslog)), old)
    assert [sink.name for sink in built] == ["journal", DOWN, UP, DOWN]  # only the changed one rebuilt
    assert built[1].closed and not built[0].closed and not built[2].closed
    after = running.alerts.stats()[DOWN]
    assert after["queued"] == 5 and after["dropped"] == before["dropped"] == 1
    assert after["retries"] >= before["retries"] >= 2
    built[3].down = False
    await wait_for(lambda: running.alerts.stats()[DOWN]["delivered"] == 5)
    assert built[3].got == [f"#{i}" for i in range(5)]  # the one in flight at the swap first
    await running.alerts.close(timeout=0)
