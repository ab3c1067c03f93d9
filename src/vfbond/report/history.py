"""The persisted history ring of supervisor events."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import tempfile
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from vfbond.shared.events import Event, EventType
from vfbond.shared.files import fsync_dir

log = logging.getLogger(__name__)

# The history's file and directory: root-only whatever the umask (see History).
FILE_MODE = 0o640
DIR_MODE = 0o750


def _write(fd: int, data: bytes) -> None:
    if os.write(fd, data) < len(data):  # regular files write short only when out of space or quota
        raise OSError(errno.ENOSPC, "short write: the file system is full")


def _complete_lines(fd: int) -> int:
    """Length of the file up to and including its last newline."""
    data = os.pread(fd, os.fstat(fd).st_size, 0)
    return data.rfind(b"\n") + 1


class History:
    """Bounded event ring, appended to a JSON-lines file so it survives restarts.

    The file is compacted to the ring's contents once it holds twice the bound, so it never grows
    without limit and appends stay O(1). It is root-only (the events name interfaces and carry
    operators' reasons), whatever the umask.

    Writing is best-effort: a full or read-only disk costs the file some events, never the daemon
    its supervision. The ring keeps every event, `write_errors` counts the failed writes (for
    status), the first failure of a run is logged, and the next good write rewrites the file from
    the ring, so the events missed meanwhile reach it too.
    """

    def __init__(self, path: Path | None, size: int = 1000) -> None:
        self.path = path
        self.size = size
        self.write_errors = 0
        self._ring: deque[Event] = deque(maxlen=size)
        self._lines_on_disk = 0
        self._failing = 0  # failed writes since the last good one
        self._torn = False  # the file ends in part of a line (a crash, a short write): cut it first
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("history %s: cannot read it (%s); starting empty", path, exc.strerror or exc)
            return
        complete = data.rfind(b"\n") + 1
        self._torn = complete < len(data)
        for line in data[:complete].decode("utf-8", errors="replace").splitlines():
            self._lines_on_disk += 1
            try:
                self._ring.append(Event.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # one bad line must not lose the rest

    def append(self, event: Event) -> None:
        self._ring.append(event)
        if self.path is None:
            return
        try:
            if self._failing or self._lines_on_disk + 1 >= 2 * self.size:
                self._rewrite(self.path)
            else:
                self._append_line(self.path, (json.dumps(event.to_dict()) + "\n").encode())
        except OSError as exc:
            self.write_errors += 1
            self._failing += 1
            if self._failing == 1:
                log.warning("history %s: cannot write (%s); events stay in memory until it works again",
                            self.path, exc.strerror or exc)
            return
        if self._failing:
            log.info("history %s: writing again after %d failed writes", self.path, self._failing)
            self._failing = 0

    def _append_line(self, path: Path, line: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            if self._torn:  # else the new line would be glued to the torn one and lost with it
                os.ftruncate(fd, _complete_lines(fd))
                self._torn = False
            _write(fd, line)  # a failure (even a short write) is mended by the next good write's rewrite
        finally:
            os.close(fd)
        self._lines_on_disk += 1

    def _rewrite(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, FILE_MODE)
            _write(fd, "".join(json.dumps(e.to_dict()) + "\n" for e in self._ring).encode())
            # The data before the name: else a crash after the rename can leave an empty history.
            os.fsync(fd)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        finally:
            os.close(fd)
        fsync_dir(path.parent)  # and the rename itself
        self._lines_on_disk = len(self._ring)
        self._torn = False

    def last(self, n: int | None = None, types: Iterable[EventType] | None = None) -> list[Event]:
        wanted = set(types) if types else None
        events = [e for e in self._ring if wanted is None or e.type in wanted]
        return events if n is None else events[-n:]
