"""Typed, timestamped supervisor events and the persisted history ring."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import tempfile
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The history's file and directory: root-only whatever the umask (see History).
FILE_MODE = 0o640
DIR_MODE = 0o750


class Severity(int, Enum):
    """RFC 5424 severities (also journald PRIORITY)."""

    CRIT = 2
    ERR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6


class EventType(StrEnum):
    FAILOVER = "failover"
    FAILBACK = "failback"
    SLAVE_DOWN = "slave_down"
    SLAVE_UP = "slave_up"
    SLAVE_MISSING = "slave_missing"
    SLAVE_RETURNED = "slave_returned"
    BOND_DEGRADED = "bond_degraded"
    BOND_RESTORED = "bond_restored"
    BOND_ISOLATED = "bond_isolated"
    MAC_CHANGED = "mac_changed"
    FLAP_SUMMARY = "flap_summary"
    WARNING = "warning"
    DAEMON = "daemon"
    KERNEL_MESSAGE = "kernel_message"  # a VF driver or bonding line that needs the host's attention
    PF_RESET = "pf_reset"  # a VF lost carrier because its PF is resetting
    RECOVERED = "recovered"  # that VF has carrier again; details["outage_ms"]
    RECOVERY_ATTEMPT = "recovery_attempt"  # it stayed down: vfbondd bounced it once
    # After a failover/failback (supervise/verify.py): the gateway answered through the new VF
    # (details: reply_ms, peer_notifications), or did not; no GARP/NA left it while peers need one.
    FAILOVER_VERIFIED = "failover_verified"
    FAILOVER_UNVERIFIED = "failover_unverified"
    PEERS_NOT_NOTIFIED = "peers_not_notified"
    # The reconciler (supervise/reconciler.py): someone else changed the bond and vfbondd put the
    # config back (details: why, drift); maintenance begun and ended (`bondctl pause`/`resume`).
    CONVERGED = "converged"
    PAUSED = "paused"
    RESUMED = "resumed"


SEVERITY: dict[EventType, Severity] = {
    EventType.FAILOVER: Severity.WARNING,
    EventType.FAILBACK: Severity.NOTICE,
    EventType.SLAVE_DOWN: Severity.WARNING,
    EventType.SLAVE_UP: Severity.NOTICE,
    EventType.SLAVE_MISSING: Severity.ERR,
    EventType.SLAVE_RETURNED: Severity.NOTICE,
    EventType.BOND_DEGRADED: Severity.ERR,
    EventType.BOND_RESTORED: Severity.NOTICE,
    EventType.BOND_ISOLATED: Severity.CRIT,
    EventType.MAC_CHANGED: Severity.WARNING,
    EventType.FLAP_SUMMARY: Severity.WARNING,
    EventType.WARNING: Severity.WARNING,
    EventType.DAEMON: Severity.INFO,
    EventType.KERNEL_MESSAGE: Severity.WARNING,
    EventType.PF_RESET: Severity.WARNING,
    EventType.RECOVERED: Severity.NOTICE,
    EventType.RECOVERY_ATTEMPT: Severity.ERR,
    EventType.FAILOVER_VERIFIED: Severity.INFO,
    EventType.FAILOVER_UNVERIFIED: Severity.ERR,
    EventType.PEERS_NOT_NOTIFIED: Severity.ERR,
    EventType.CONVERGED: Severity.WARNING,
    EventType.PAUSED: Severity.NOTICE,
    EventType.RESUMED: Severity.NOTICE,
}


@dataclass(frozen=True)
class Event:
    type: EventType
    bond: str
    slave: str | None = None
    old_active: str | None = None
    new_active: str | None = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.type]

    def message(self) -> str:
        """One human line, the same text every sink shows."""
        parts = [f"{self.bond}: {self.type.value}"]
        if self.slave:
            parts.append(f"slave={self.slave}")
        if self.old_active or self.new_active:
            parts.append(f"{self.old_active or '-'} -> {self.new_active or '-'}")
        if self.reason:
            parts.append(f"({self.reason})")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = self.type.value
        data["severity"] = self.severity.name.lower()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(
            type=EventType(data["type"]),
            bond=data["bond"],
            slave=data.get("slave"),
            old_active=data.get("old_active"),
            new_active=data.get("new_active"),
            reason=data.get("reason", ""),
            details=data.get("details") or {},
            time=float(data["time"]),
        )


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
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        finally:
            os.close(fd)
        self._lines_on_disk = len(self._ring)
        self._torn = False

    def last(self, n: int | None = None, types: Iterable[EventType] | None = None) -> list[Event]:
        wanted = set(types) if types else None
        events = [e for e in self._ring if wanted is None or e.type in wanted]
        return events if n is None else events[-n:]
