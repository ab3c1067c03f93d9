"""The /dev/kmsg watcher on the host's real kernel log: a line root writes is seen within milliseconds.

Only a harmless line of our own is written; VF driver lines are never faked into the host's log
(tests/unit/test_kmsg_rules.py classifies recorded ones).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from vfbond.watch.kmsg import KMSG, KmsgRecord, KmsgWatcher, backlog

pytestmark = pytest.mark.host


def write_kmsg(text: str) -> None:
    fd = os.open(KMSG, os.O_WRONLY)
    try:
        os.write(fd, f"<6>{text}\n".encode())
    finally:
        os.close(fd)


async def read_until(watcher: KmsgWatcher, marker: str, timeout: float = 2.0) -> list[KmsgRecord]:
    """Every record read up to and including the first that carries `marker` (the host logs other lines too)."""
    seen: list[KmsgRecord] = []

    async def find() -> list[KmsgRecord]:
        async for rec in watcher.records():
            seen.append(rec)
            if marker in rec.text:
                return seen
        raise AssertionError("the record stream ended")
    return await asyncio.wait_for(find(), timeout)


async def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_line_written_to_kmsg_arrives_parsed_within_ms_and_old_lines_are_not_replayed() -> None:
    if os.geteuid() != 0:
        pytest.fail("host tests need root (writing /dev/kmsg)")
    old = f"vfbond-test: before {uuid.uuid4().hex}"
    write_kmsg(old)  # already in the ring buffer when the watcher starts: must not come back
    watcher = KmsgWatcher()
    watcher.start()
    try:
        marker = f"vfbond-test: {uuid.uuid4().hex}"
        t0 = time.monotonic()
        write_kmsg(marker)
        seen = await read_until(watcher, marker)
        rec = seen[-1]
        took_ms = (rec.at - t0) * 1000
        print(f"\nkmsg line seen after {took_ms:.2f} ms")
        assert rec.text == marker and (rec.priority, rec.facility) == (6, 1)  # <6>, written by userspace
        assert took_ms < 100
        assert old not in [r.text for r in seen], "the line written before the start was replayed"
        assert watcher.stats() == {"overwritten": 0, "dropped": 0, "errors": 0}
    finally:
        watcher.close()


async def test_overwritten_records_and_read_errors_are_counted_and_the_watch_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A pipe stands in for /dev/kmsg, and its reads fail as the device's can: EPIPE (skipped, counted),
    then EIO (logged, counted, the reader paused for a second instead of spinning, then back)."""
    caplog.set_level(logging.INFO, logger="vfbond")
    fifo = tmp_path / "kmsg"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    watcher = KmsgWatcher(fifo)
    monkeypatch.setattr(os, "lseek", lambda fd, pos, how: 0)  # a pipe cannot seek; /dev/kmsg can
    watcher.start()
    failures = [OSError(errno.EPIPE, "Broken pipe"), *[OSError(errno.EIO, "I/O error")] * 3]
    real_read = os.read

    def read(fd: int, n: int) -> bytes:
        if fd == watcher._fd and failures:
            raise failures.pop(0)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", read)
    try:
        os.write(writer, b"6,1,1,-;first\n")
        await until(lambda: watcher.errors >= 1, 1.0)
        assert (watcher.overwritten, watcher.errors) == (1, 1), "EPIPE skips on; EIO pauses the reader"
        await asyncio.sleep(0.5)
        assert watcher.errors == 1, "a failing read must pause the reader, not spin on it"
        await until(lambda: watcher.errors == 3, 5.0)  # the reader comes back after each pause
        rec = (await read_until(watcher, "first", timeout=3.0))[-1]
        assert rec.seq == 1
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1 and "I/O error" in warnings[0], "one warning per outage, not one a second"
        assert any("works again after 3 errors" in r.getMessage() for r in caplog.records)
    finally:
        watcher.close()
        os.close(writer)


def test_the_backlog_holds_what_is_already_in_the_kernel_log() -> None:
    """bondctl doctor looks back: a line written before is found by a one-off read of the ring buffer."""
    marker = f"vfbond-test: backlog {uuid.uuid4().hex}"
    write_kmsg(marker)
    found = [r for r in backlog() if r.text == marker]
    assert len(found) == 1 and found[0].facility == 1
