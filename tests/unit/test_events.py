import errno
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from vfbond.report import history
from vfbond.report.history import History
from vfbond.shared.events import Event, EventType, Severity


def test_event_round_trip_and_message() -> None:
    e = Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1", reason="carrier loss on vf0")
    assert Event.from_dict(json.loads(json.dumps(e.to_dict()))) == e
    assert e.severity is Severity.WARNING
    assert e.message() == "bond0: failover vf0 -> vf1 (carrier loss on vf0)"


def test_history_survives_restart_and_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    h = History(path, size=5)
    for i in range(23):
        h.append(Event(EventType.SLAVE_DOWN, "bond0", slave=f"vf{i}"))
    assert [e.slave for e in h.last()] == [f"vf{i}" for i in range(18, 23)]
    assert len(path.read_text().splitlines()) < 10  # compacted, never unbounded
    again = History(path, size=5)
    assert [e.slave for e in again.last()] == [f"vf{i}" for i in range(18, 23)]


def test_torn_last_line_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    h = History(path, size=10)
    h.append(Event(EventType.FAILBACK, "bond0", old_active="vf1", new_active="vf0"))
    with path.open("a") as f:
        f.write('{"type": "failo')
    assert [e.type for e in History(path, size=10).last()] == [EventType.FAILBACK]


def test_last_filters_by_type() -> None:
    h = History(None, size=10)
    h.append(Event(EventType.SLAVE_DOWN, "bond0"))
    h.append(Event(EventType.FAILOVER, "bond0"))
    h.append(Event(EventType.SLAVE_UP, "bond0"))
    assert [e.type for e in h.last(1, (EventType.FAILOVER, EventType.FAILBACK))] == [EventType.FAILOVER]


def test_a_torn_last_line_is_cut_so_the_next_event_survives(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    History(path, size=10).append(Event(EventType.FAILBACK, "bond0", old_active="vf1", new_active="vf0"))
    with path.open("a") as f:
        f.write('{"type": "failo')  # the daemon died in the middle of a write
    History(path, size=10).append(Event(EventType.SLAVE_DOWN, "bond0", slave="vf0"))
    assert [e.type for e in History(path, size=10).last()] == [EventType.FAILBACK, EventType.SLAVE_DOWN]
    assert path.read_text().count("\n") == 2


@pytest.mark.parametrize("events", [1, 25])  # created by an append, and by a compaction
def test_history_file_is_root_only_under_a_permissive_umask(tmp_path: Path, events: int) -> None:
    path = tmp_path / "state" / "events.jsonl"
    old = os.umask(0)
    try:
        h = History(path, size=10)
        for _ in range(events):
            h.append(Event(EventType.SLAVE_DOWN, "bond0", slave="vf0"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) & ~0o640 == 0, oct(path.stat().st_mode)
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o027 == 0, oct(path.parent.stat().st_mode)


class FullDisk:
    """os for vfbond.report.history, with every write failing like a full file system."""

    calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: bytes) -> int:
        self.calls += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_never_raises_out_of_append(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.jsonl"
    h = History(path, size=5)
    h.append(Event(EventType.DAEMON, "bond0", reason="started"))
    full = FullDisk()
    monkeypatch.setattr(history, "os", full)
    with caplog.at_level(logging.WARNING, logger="vfbond.report.history"):
        for i in range(12):  # enough to reach a compaction too
            h.append(Event(EventType.SLAVE_DOWN, "bond0", slave=f"vf{i}"))
    assert full.calls >= 12 and h.write_errors == full.calls
    assert [e.slave for e in h.last(2)] == ["vf10", "vf11"]  # kept in memory
    assert len([r for r in caplog.records if "history" in r.getMessage()]) == 1  # once per burst
    assert "No space left on device" in caplog.text
    monkeypatch.undo()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vfbond.report.history"):
        h.append(Event(EventType.SLAVE_UP, "bond0", slave="vf0"))
    assert "again" in caplog.text
    assert History(path, size=5).last()[-1].type is EventType.SLAVE_UP


def test_an_unwritable_state_dir_never_raises(tmp_path: Path) -> None:
    """A real OSError: the state directory's place is taken by a file."""
    (tmp_path / "state").write_text("")
    h = History(tmp_path / "state" / "events.jsonl", size=5)
    h.append(Event(EventType.DAEMON, "bond0", reason="started"))
    assert h.write_errors == 1 and len(h.last()) == 1


def test_compaction_syncs_the_new_file_before_the_rename_and_the_directory_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without both, a crash just after a compaction can leave an empty or the old file."""
    path = tmp_path / "events.jsonl"
    h = History(path, size=2)
    done: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else f"file of {os.fstat(fd).st_size} bytes"
        done.append(f"fsync {kind}")
        real_fsync(fd)

    def replace(src: str, dst: Path) -> None:
        done.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    for i in range(4):  # the fourth line reaches twice the bound: compacted to the last two
        h.append(Event(EventType.SLAVE_DOWN, "bond0", slave=f"vf{i}"))
    size = len(path.read_bytes())
    assert done == [f"fsync file of {size} bytes", "rename", "fsync dir"]
    assert [e.slave for e in History(path, size=2).last()] == ["vf2", "vf3"]
