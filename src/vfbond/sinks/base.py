"""The alert sink interface, and the queue that keeps a slow or dead receiver from holding up the daemon.

Every sink sits behind its own bounded queue and worker task. `publish` only enqueues, so the
supervisor loop never waits on a receiver; the worker retries one event with exponential backoff
until it goes out, which keeps the order and loses nothing while the queue has room. When the
queue is full, new events are dropped and counted: the oldest ones (the start of an incident) are
the ones an operator needs first, and the history ring (bondctl events) keeps them all.

A reload keeps every queue whose sink's settings did not change, with its events, its worker and its
counts (`Dispatcher.take_over`): a Prometheus counter of delivered or dropped alerts never goes back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable, Iterable
from typing import Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never, wait_exponential, wait_random

from vfbond.shared.events import Event
from vfbond.shared.status import SinkStats

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Delivers one event to one receiver; raises on failure so the queue can retry."""

    name: str

    async def send(self, event: Event) -> None: ...

    async def close(self) -> None: ...


class SinkUnavailable(Exception):
    """The receiver did not take the event (e.g. an SNMP inform timed out); worth retrying."""


# Failures that a later attempt can cure. Anything else is a bug or a bad event: retrying it
# would block every event behind it forever, so it is logged and dropped instead.
TRANSIENT = (OSError, SinkUnavailable)  # OSError covers TimeoutError, refused/reset and ssl.SSLError


class SinkQueue:
    """One sink, its bounded queue and the worker that drains it in order. `spec` is what the sink
    was built from (a config target): a reload rebuilds the sink only when its spec changed."""

    def __init__(self, sink: Sink, size: int, *, spec: Hashable = None, retry_initial: float = 0.5,
                 retry_max: float = 30.0, send_timeout: float = 10.0) -> None:
        self.sink = sink
        self.spec = spec
        # `size` bounds the queue in publish, not in asyncio.Queue: a reload may change it on a
        # queue that holds events (see Dispatcher.take_over).
        self.size = size
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        # Jitter keeps many VMs from reconnecting to one syslog server in lockstep after its restart.
        self._wait = wait_exponential(multiplier=retry_initial, max=retry_max) + wait_random(0, retry_initial)
        self._send_timeout = send_timeout
        self._worker: asyncio.Task[None] | None = None
        self._in_flight: Event | None = None  # taken from the queue, not delivered yet
        self._failing = False  # between the first failed attempt and the next success
        self._dropping = False  # between the first overflow and the next delivery
        self.delivered = 0
        self.retries = 0
        self.dropped = 0
        self.last_error: str | None = None
        self.last_ok_time: float | None = None

    def start(self) -> None:
        """Start the worker; needs a running event loop."""
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run(), name=f"sink {self.sink.name}")

    def publish(self, event: Event) -> bool:
        """Queue the event without waiting; False (and counted) when the queue is full."""
        if self._queue.qsize() >= self.size:
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning("alert sink %s: queue full (%d events), dropping new events until it drains",
                            self.sink.name, self.size)
            return False
        self._queue.put_nowait(event)
        return True

    def stats(self) -> SinkStats:
        return {
            "queued": self._queue.qsize() + int(self._in_flight is not None),
            "delivered": self.delivered,
            "retries": self.retries,
            "dropped": self.dropped,
            "last_error": self.last_error,
            "last_ok_time": self.last_ok_time,
        }

    async def drain(self, timeout: float) -> bool:
        """Wait until everything queued so far went out; False if that took longer than timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._queue.join()
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 2.0) -> None:
        """Give queued events `timeout` seconds to go out, then stop the worker and the sink."""
        if self._worker is not None and not await self.drain(timeout):
            log.warning("alert sink %s: %d events not delivered at shutdown", self.sink.name, self.stats()["queued"])
        await self.stop()
        await self.sink.close()

    async def stop(self) -> Event | None:
        """Stop the worker; the event it was delivering when stopped (not counted as delivered), if any."""
        if self._worker is None:
            return None
        # No await between reading it and the cancel: once cancelled, the worker counts nothing more.
        in_flight = self._in_flight
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        self._worker = None
        return in_flight

    def succeed(self, old: SinkQueue, in_flight: Event | None) -> None:
        """Take over from `old`, a stopped queue of the same sink built with other settings: its
        counts continue here, and its undelivered events go out first, in order (the one in flight
        may be sent twice: at least once, never lost)."""
        self.delivered += old.delivered
        self.retries += old.retries
        self.dropped += old.dropped
        self.last_error = self.last_error or old.last_error
        self.last_ok_time = self.last_ok_time or old.last_ok_time
        if in_flight is not None:
            self._queue.put_nowait(in_flight)
        while not old._queue.empty():  # self is not live yet: nothing else is queued here
            self._queue.put_nowait(old._queue.get_nowait())
            old._queue.task_done()

    async def _run(self) -> None:
        while True:
            event = self._in_flight = await self._queue.get()
            try:
                await self._deliver(event)
            except Exception as exc:  # not transient: see TRANSIENT
                self.dropped += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("alert sink %s: dropped %s event that cannot be sent", self.sink.name,
                              event.type.value)
            finally:
                self._in_flight = None
                self._queue.task_done()

    async def _deliver(self, event: Event) -> None:
        retrying = AsyncRetrying(stop=stop_never, wait=self._wait, retry=retry_if_exception_type(TRANSIENT),
                                 before_sleep=self._note_failure, reraise=True)
        async for attempt in retrying:
            with attempt:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands as
                # the send completes, and close() would then wait for this worker forever.
                async with asyncio.timeout(self._send_timeout):
                    await self.sink.send(event)
        self.delivered += 1
        self.last_ok_time = time.time()
        if self._failing:
            self._failing = False
            log.info("alert sink %s: delivering again", self.sink.name)
        if self._dropping and self._queue.empty():
            self._dropping = False
            log.warning("alert sink %s: caught up; %d events dropped in total", self.sink.name, self.dropped)

    def _note_failure(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.retries += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if not self._failing:  # once per outage; stats() carries the running count
            self._failing = True
            log.warning("alert sink %s: %s; retrying with backoff", self.sink.name, self.last_error)


class Dispatcher:
    """Fans each event out to every sink's queue."""

    def __init__(self, sinks: Iterable[Sink], queue_size: int, **queue_options: float) -> None:
        self.queue_size = queue_size
        self.queues = [SinkQueue(sink, queue_size, **queue_options) for sink in sinks]

    @classmethod
    def of(cls, queues: Iterable[SinkQueue], queue_size: int) -> Dispatcher:
        """A dispatcher over queues built elsewhere (some of them a running dispatcher's)."""
        dispatcher = cls((), queue_size)
        dispatcher.queues = list(queues)
        return dispatcher

    def start(self) -> None:
        for queue in self.queues:
            queue.size = self.queue_size
            queue.start()

    async def take_over(self, old: Dispatcher) -> None:
        """Go live in `old`'s place (a reload). A queue both share goes on untouched: its events, its
        worker, its counts. A queue of a rebuilt sink (same name, other settings) succeeds the old
        one: its undelivered events and its counts. Then every queue takes this dispatcher's size (a
        smaller one drops nothing already queued) and the new ones start. The caller publishes here
        right after, with no await in between, so no event is left behind in `old`."""
        replaced = {queue.sink.name: queue for queue in old.queues if queue not in self.queues}
        successors = [(queue, replaced.pop(queue.sink.name)) for queue in self.queues
                      if queue not in old.queues and queue.sink.name in replaced]
        in_flight = await asyncio.gather(*(prev.stop() for _, prev in successors))
        for (queue, prev), event in zip(successors, in_flight, strict=True):
            queue.succeed(prev, event)
        self.start()

    def publish(self, event: Event) -> None:
        """Never blocks and never raises: a full queue only counts a drop for that sink."""
        for queue in self.queues:
            queue.publish(event)

    def stats(self) -> dict[str, SinkStats]:
        """Per sink: queued, delivered, retries, dropped, last_error, last_ok_time (for bondctl status)."""
        return {queue.sink.name: queue.stats() for queue in self.queues}

    async def close(self, timeout: float = 2.0, keep: Dispatcher | None = None) -> None:
        """Close every queue and sink, except those `keep` goes on using."""
        kept = keep.queues if keep is not None else []
        await asyncio.gather(*(queue.close(timeout) for queue in self.queues if queue not in kept))
