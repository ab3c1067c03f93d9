"""The journald sink against a datagram socket that reads the native protocol, and against a real journald."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vfbond.shared.events import Event, EventType
from vfbond.sinks import Dispatcher
from vfbond.sinks.journald import MESSAGE_IDS, JournaldSink, StdoutSink, journal_sink

pytestmark = pytest.mark.host

FAILOVER = Event(EventType.FAILOVER, "bond0", slave="vf0", old_active="vf0", new_active="vf1",
                 reason="carrier lost\nafter 3 probes")  # the newline forces the binary-safe form
JOURNALD = Path("/lib/systemd/systemd-journald")


def parse_native(data: bytes) -> dict[str, str]:
    """Read a datagram of https://systemd.io/JOURNAL_NATIVE_PROTOCOL/ into fields."""
    fields: dict[str, str] = {}
    while data:
        line, _, rest = data.partition(b"\n")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            data = rest
        else:  # KEY\n, 64-bit little-endian length, value, \n
            key = line
            (size,) = struct.unpack("<Q", rest[:8])
            value, data = rest[8:8 + size], rest[8 + size:]
            assert data[:1] == b"\n", "binary value not terminated by a newline"
            data = data[1:]
        fields[key.decode()] = value.decode()
    return fields


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[Path, socket.socket]]:
    path = tmp_path / "journal.socket"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield path, sock
    sock.close()


async def test_native_fields_arrive_over_the_journal_socket(receiver: tuple[Path, socket.socket]) -> None:
    path, sock = receiver
    sink = journal_sink(path)
    assert isinstance(sink, JournaldSink)
    await sink.send(FAILOVER)
    await sink.close()
    assert parse_native(sock.recv(65536)) == {
        "MESSAGE": "bond0: failover slave=vf0 vf0 -> vf1 (carrier lost\nafter 3 probes)",
        "MESSAGE_ID": MESSAGE_IDS[EventType.FAILOVER],
        "PRIORITY": "4",
        "SYSLOG_IDENTIFIER": "vfbondd",
        "SYSLOG_FACILITY": "3",
        "EVENT_TYPE": "failover",
        "BOND": "bond0",
        "SLAVE": "vf0",
        "OLD_ACTIVE": "vf0",
        "NEW_ACTIVE": "vf1",
        "REASON": "carrier lost\nafter 3 probes",
    }


async def test_a_restarted_journald_gets_the_events_queued_while_it_was_away(tmp_path: Path) -> None:
    path = tmp_path / "journal.socket"
    alerts = Dispatcher([JournaldSink(path)], queue_size=10, retry_initial=0.02, retry_max=0.1)
    alerts.start()
    for kind in (EventType.SLAVE_DOWN, EventType.FAILOVER, EventType.BOND_DEGRADED):
        alerts.publish(Event(kind, "bond0", slave="vf0"))
    await asyncio.sleep(0.2)
    assert alerts.stats()["journald"]["retries"] > 0 and alerts.stats()["journald"]["queued"] == 3
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))  # journald is back, with a new socket at the same path
    sock.setblocking(False)  # the loop must keep running the sink's worker while we wait
    loop = asyncio.get_running_loop()
    got = [parse_native(await asyncio.wait_for(loop.sock_recv(sock, 65536), 2))["EVENT_TYPE"] for _ in range(3)]
    assert got == ["slave_down", "failover", "bond_degraded"]
    await alerts.close()
    sock.close()


async def test_without_a_journal_socket_events_go_to_stdout_as_one_line_each(tmp_path: Path) -> None:
    out = io.StringIO()
    sink = journal_sink(tmp_path / "absent.socket", out)
    assert isinstance(sink, StdoutSink)
    await sink.send(FAILOVER)
    line = out.getvalue()
    assert line.count("\n") == 1 and line.startswith("<4>{")  # journald's stdout reader takes <4> as PRIORITY
    fields = json.loads(line[3:])
    assert fields["EVENT_TYPE"] == "failover" and fields["REASON"] == "carrier lost\nafter 3 probes"
    assert fields["MESSAGE_ID"] == MESSAGE_IDS[EventType.FAILOVER]


@pytest.fixture
def journald_namespace() -> Iterator[str]:
    """A real systemd-journald in a journal namespace of its own: its sockets and files are removed after."""
    if not JOURNALD.exists():
        pytest.skip(f"{JOURNALD} is not installed (apt-get install systemd); the socket tests above still ran")
    if os.geteuid() != 0:
        pytest.fail("the real-journald test needs root to run systemd-journald")
    namespace = f"vfbondtest{uuid.uuid4().hex[:8]}"
    run_dir = Path(f"/run/systemd/journal.{namespace}")
    proc = subprocess.Popen([str(JOURNALD), namespace], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 5
        while not (run_dir / "socket").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"systemd-journald {namespace} did not start: {proc.stderr.read().decode()}")
            time.sleep(0.05)
        yield namespace
    finally:
        proc.terminate()
        proc.wait(5)
        machine_id = Path("/etc/machine-id").read_text().strip()
        for journal_dir in (Path("/var/log/journal"), Path("/run/log/journal")):
            shutil.rmtree(journal_dir / f"{machine_id}.{namespace}", ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


async def test_a_real_journald_stores_the_fields(journald_namespace: str) -> None:
    sink = journal_sink(Path(f"/run/systemd/journal.{journald_namespace}/socket"))
    await sink.send(FAILOVER)
    await sink.close()
    query = ["journalctl", f"--namespace={journald_namespace}", "-o", "json", "--no-pager",
             f"MESSAGE_ID={MESSAGE_IDS[EventType.FAILOVER]}"]
    deadline = time.monotonic() + 5
    while not (out := subprocess.run(query, capture_output=True, text=True).stdout.strip()):
        assert time.monotonic() < deadline, "the event never showed up in the journal"
        await asyncio.sleep(0.1)
    entry = json.loads(out.splitlines()[-1])
    assert {k: entry[k] for k in ("PRIORITY", "SYSLOG_IDENTIFIER", "EVENT_TYPE", "BOND", "SLAVE", "OLD_ACTIVE",
                                  "NEW_ACTIVE", "REASON")} == {
        "PRIORITY": "4", "SYSLOG_IDENTIFIER": "vfbondd", "EVENT_TYPE": "failover", "BOND": "bond0",
        "SLAVE": "vf0", "OLD_ACTIVE": "vf0", "NEW_ACTIVE": "vf1", "REASON": "carrier lost\nafter 3 probes"}
    assert entry["_TRANSPORT"] == "journal"  # the native protocol, not stdout
