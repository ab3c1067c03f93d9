"""Kernel log records from /dev/kmsg as a stream, read when the loop says the device is readable.

Each read() of /dev/kmsg returns exactly one record: `prio,seq,usec,flags;text\\n`, then
continuation lines that start with a space and carry the device dictionary (`SUBSYSTEM=pci`,
`DEVICE=+pci:0000:01:10.0`). The reader starts at the end of the ring buffer, so an old VF
message is never taken for a new one. A watcher must never stop watching: records the kernel
overwrote before we read them (EPIPE) are counted and skipped, and any other read error is
logged, counted and retried a second later instead of spinning the loop or ending the stream.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from vfbond.shared.status import KmsgStats

log = logging.getLogger("vfbond")

KMSG = Path("/dev/kmsg")
RECORD_MAX = 8192  # the kernel's own limit for one record with its dictionary (CONSOLE_EXT_LOG_MAX)
MAX_QUEUED = 1024  # records not yet consumed; beyond this new ones are dropped and counted
RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class KmsgRecord:
    priority: int  # syslog severity, 0 (emerg) .. 7 (debug)
    facility: int  # 0: kernel; userspace writes to /dev/kmsg get 1 (user)
    seq: int
    usec: int  # the kernel's timestamp: microseconds since boot
    text: str
    fields: dict[str, str] = field(default_factory=dict)  # SUBSYSTEM, DEVICE, ...
    at: float = 0.0  # time.monotonic() when it was read


def parse_record(data: bytes, at: float = 0.0) -> KmsgRecord | None:
    """One /dev/kmsg record, or None when it is not in the documented format."""
    head, sep, rest = data.decode("utf-8", errors="replace").partition(";")
    parts = head.split(",")
    if not sep or len(parts) < 3 or not all(p.isdigit() for p in parts[:3]):
        return None
    prefix, seq, usec = (int(p) for p in parts[:3])
    text, *continuation = rest.rstrip("\n").split("\n")
    fields = {}
    for line in continuation:
        key, eq, value = line[1:].partition("=")
        if line.startswith(" ") and eq:
            fields[key] = value
    return KmsgRecord(priority=prefix & 7, facility=prefix >> 3, seq=seq, usec=usec, text=text, fields=fields, at=at)


def backlog(path: Path = KMSG) -> list[KmsgRecord]:
    """Every record still in the kernel's ring buffer, oldest first: a one-off look back (bondctl doctor)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    records: list[KmsgRecord] = []
    try:
        while True:
            try:
                data = os.read(fd, RECORD_MAX)
            except BlockingIOError:
                return records
            except BrokenPipeError:  # overwritten while we read: go on from the oldest still there
                continue
            if not data:
                return records
            if (record := parse_record(data)) is not None:
                records.append(record)
    finally:
        os.close(fd)


class KmsgWatcher:
    """Follows /dev/kmsg through loop.add_reader: no polling, no thread."""

    def __init__(self, path: Path = KMSG) -> None:
        self._path = path
        self._fd: int | None = None
        self._queue: asyncio.Queue[KmsgRecord] = asyncio.Queue(MAX_QUEUED)
        self._retry: asyncio.TimerHandle | None = None
        self.overwritten = 0  # EPIPE: the ring buffer wrapped past us
        self.dropped = 0  # our queue was full
        self.errors = 0  # other read errors
        self._failing: str | None = None  # the error being retried, logged once until a read succeeds

    def start(self) -> None:
        """Open and seek to the end; raises OSError when there is no readable /dev/kmsg."""
        fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.lseek(fd, 0, os.SEEK_END)
            asyncio.get_running_loop().add_reader(fd, self._readable)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _readable(self) -> None:
        assert self._fd is not None
        while True:
            try:
                data = os.read(self._fd, RECORD_MAX)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # the next read returns the oldest record still there
                    self.overwritten += 1
                    continue
                self._pause(exc)
                return
            if not data:
                return
            if self._failing is not None:
                log.info("reading %s works again after %d errors", self._path, self.errors)
                self._failing = None
            record = parse_record(data, time.monotonic())
            if record is None:
                continue
            try:
                self._queue.put_nowait(record)
            except asyncio.QueueFull:
                self.dropped += 1

    def _pause(self, exc: OSError) -> None:
        """Stop reading for a second: a persistent error must neither spin the loop nor end the watch."""
        self.errors += 1
        if self._failing != str(exc):
            self._failing = str(exc)
            log.warning("reading %s failed (%s); retrying every %gs", self._path, exc, RETRY_SECONDS)
        loop = asyncio.get_running_loop()
        assert self._fd is not None
        loop.remove_reader(self._fd)
        self._retry = loop.call_later(RETRY_SECONDS, self._resume)

    def _resume(self) -> None:
        self._retry = None
        if self._fd is not None:
            asyncio.get_running_loop().add_reader(self._fd, self._readable)

    async def records(self) -> AsyncIterator[KmsgRecord]:
        """Every record read since start(), in order."""
        while True:
            yield await self._queue.get()

    def stats(self) -> KmsgStats:
        return {"overwritten": self.overwritten, "dropped": self.dropped, "errors": self.errors}

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
