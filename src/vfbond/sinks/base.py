"""The alert sink interface, and the queue that keeps a slow or dead receiver from holding up the daemon.

Every sink sits behind its own bounded queue and worker task. `publish` only enqueues, so the
supervisor loop never waits on a receiver; the worker retries one event with exponential backoff
until it goes out, which keeps the order and loses nothing while the queue has room. When the
queue is full, new events are dropped and counted: the oldest ones (the start of an incident) are
the ones an operator needs first, and the history ring (bondctl events) keeps them all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any, Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never, wait_exponential, wait_random

from vfbond.shared.events import Event

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
    """One sink, its bounded queue and the worker that drains it in order."""

    def __init__(self, sink: Sink, size: int, *, retry_initial: float = 0.5, retry_max: float = 30.0,
                 send_timeout: float = 10.0) -> None:
        self.sink = sink
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=size)
        # Jitter keeps many VMs from reconnecting to one syslog server in lockstep after its restart.
        self._wait = wait_exponential(multiplier=retry_initial, max=retry_max) + wait_random(0, retry_initial)
        self._send_timeout = send_timeout
        self._worker: asyncio.Task[None] | None = None
        self._in_flight = False
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
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning("alert sink %s: queue full (%d events), dropping new events until it drains",
                            self.sink.name, self._queue.maxsize)
            return False
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "queued": self._queue.qsize() + int(self._in_flight),
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
        if self._worker is not None:
            if not await self.drain(timeout):
                log.warning("alert sink %s: %d events not delivered at shutdown",
                            self.sink.name, self.stats()["queued"])
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        await self.sink.close()

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            self._in_flight = True
            try:
                await self._deliver(event)
            except Exception as exc:  # not transient: see TRANSIENT
                self.dropped += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("alert sink %s: dropped %s event that cannot be sent", self.sink.name,
                              event.type.value)
            finally:
                self._in_flight = False
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
        self.queues = [SinkQueue(sink, queue_size, **queue_options) for sink in sinks]

    def start(self) -> None:
        for queue in self.queues:
            queue.start()

    def publish(self, event: Event) -> None:
        """Never blocks and never raises: a full queue only counts a drop for that sink."""
        for queue in self.queues:
            queue.publish(event)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per sink: queued, delivered, retries, dropped, last_error, last_ok_time (for bondctl status)."""
        return {queue.sink.name: queue.stats() for queue in self.queues}

    async def close(self, timeout: float = 2.0) -> None:
        await asyncio.gather(*(queue.close(timeout) for queue in self.queues))
