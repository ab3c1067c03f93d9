"""Queue logic with an in-memory sink: ordering, retries, overflow, shutdown. Real receivers are in tests/host."""

import asyncio

from vfbond.shared.events import Event, EventType
from vfbond.sinks import Dispatcher, SinkQueue, SinkUnavailable

FAST = {"retry_initial": 0.01, "retry_max": 0.02}


class MemorySink:
    """Fails while `down` is set (like a refused connection), records what it got otherwise."""

    def __init__(self, name: str = "memory", down: bool = False) -> None:
        self.name = name
        self.down = down
        self.got: list[Event] = []
        self.attempts = 0
        self.closed = False

    async def send(self, event: Event) -> None:
        self.attempts += 1
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        if event.reason == "poison":
            raise ValueError("cannot format")
        self.got.append(event)

    async def close(self) -> None:
        self.closed = True


def ev(n: int, reason: str = "") -> Event:
    return Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1", reason=reason or f"#{n}")


async def wait_for(condition, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_a_receiver_that_comes_back_gets_every_queued_event_in_order() -> None:
    sink = MemorySink(down=True)
    queue = SinkQueue(sink, 100, **FAST)
    queue.start()
    for n in range(20):
        assert queue.publish(ev(n))
    await wait_for(lambda: queue.retries >= 3)
    stats = queue.stats()
    assert stats["queued"] == 20 and stats["delivered"] == 0
    assert "ConnectionRefusedError" in stats["last_error"] and stats["last_ok_time"] is None
    sink.down = False
    assert await queue.drain(2.0)
    assert [e.reason for e in sink.got] == [f"#{n}" for n in range(20)]
    stats = queue.stats()
    assert (stats["queued"], stats["delivered"], stats["dropped"]) == (0, 20, 0)
    assert stats["last_ok_time"] is not None
    await queue.close()


async def test_overflow_is_counted_not_raised_and_the_oldest_events_are_kept() -> None:
    sink = MemorySink(down=True)
    queue = SinkQueue(sink, 5, **FAST)
    queue.start()
    accepted = [queue.publish(ev(n)) for n in range(12)]  # no await: the worker has taken nothing yet
    assert accepted == [True] * 5 + [False] * 7
    assert queue.stats()["dropped"] == 7
    sink.down = False
    assert await queue.drain(2.0)
    assert [e.reason for e in sink.got] == [f"#{n}" for n in range(5)]
    await queue.close()


async def test_an_event_that_can_never_be_sent_is_dropped_instead_of_blocking_the_rest() -> None:
    sink = MemorySink()
    queue = SinkQueue(sink, 10, **FAST)
    queue.start()
    for event in (ev(0), ev(1, "poison"), ev(2)):
        queue.publish(event)
    assert await queue.drain(2.0)
    assert [e.reason for e in sink.got] == ["#0", "#2"]
    stats = queue.stats()
    assert stats["dropped"] == 1 and stats["retries"] == 0 and "ValueError" in stats["last_error"]
    await queue.close()


async def test_publish_does_not_wait_for_a_hanging_receiver() -> None:
    class Hanging(MemorySink):
        async def send(self, event: Event) -> None:
            await asyncio.sleep(3600)

    queue = SinkQueue(Hanging(), 10, send_timeout=0.05, **FAST)
    queue.start()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(10):
        queue.publish(ev(n))
    assert loop.time() - start < 0.01
    await wait_for(lambda: queue.retries >= 2)  # the hang timed out and is being retried
    assert "TimeoutError" in queue.stats()["last_error"]
    await queue.close(timeout=0.01)


async def test_sink_unavailable_is_retried() -> None:
    class NoAnswer(MemorySink):
        async def send(self, event: Event) -> None:
            self.attempts += 1
            if self.attempts < 3:
                raise SinkUnavailable("no response received before timeout")
            self.got.append(event)

    sink = NoAnswer()
    queue = SinkQueue(sink, 10, **FAST)
    queue.start()
    queue.publish(ev(0))
    assert await queue.drain(2.0)
    assert len(sink.got) == 1 and queue.retries == 2


async def test_close_delivers_what_it_can_then_closes_the_sink() -> None:
    sink = MemorySink(down=True)
    queue = SinkQueue(sink, 10, **FAST)
    queue.start()
    queue.publish(ev(0))
    await queue.close(timeout=0.05)
    assert sink.closed and sink.got == []


async def test_dispatcher_keeps_a_down_sink_from_holding_up_the_others() -> None:
    down, up = MemorySink("down", down=True), MemorySink("up")
    alerts = Dispatcher([down, up], queue_size=10, **FAST)
    alerts.start()
    for n in range(3):
        alerts.publish(ev(n))
    await wait_for(lambda: len(up.got) == 3)
    stats = alerts.stats()
    assert stats["up"]["delivered"] == 3 and stats["down"]["delivered"] == 0
    assert stats["down"]["queued"] == 3
    await alerts.close(timeout=0.01)
    assert down.closed and up.closed
