"""Before vfbondd touches anything: may it write where the config keeps its control socket and its state?

Under the shipped unit (ProtectSystem=strict) a directory outside its ReadWritePaths= is read-only.
Found only when the control socket is bound, after the first apply, that meant an exit after changing
the bond, and the unit restarting vfbondd until StartLimitBurst. Found here, it is a refusal with its own
exit code (CANNOT_WRITE), which the unit lists in RestartPreventExitStatus=: a restart cannot fix the
file system, a drop-in can, and the message names it as `bondctl check-config` does (unit_fit.write_fix).
"""

from __future__ import annotations

import errno
import os
import posixpath
import tempfile
from pathlib import Path

from vfbond.config import unit_fit
from vfbond.config.schema import DaemonConfig
from vfbond.report.history import DIR_MODE
from vfbond.shared import exitcodes

# The file system's "never here", however often asked. Anything else (a full disk) is left to the
# writers: the history is kept best-effort, and the socket's bind says what went wrong.
REFUSALS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR})
SOCKET_DIR_MODE = 0o777  # what the control server's mkdir gives it (less the umask)
PROBE = ".vfbondd-write-check."


class CannotWrite(Exception):
    """The file system refuses the control socket's directory or the state directory."""

    code = exitcodes.CANNOT_WRITE


def check(daemon: DaemonConfig) -> None:
    """Raise CannotWrite, one line naming the field, the path, the error and the fix, when either
    directory cannot be written. A missing one is made, as its owner would make it."""
    socket_dir = posixpath.dirname(daemon.socket)
    _check("daemon.socket", f"make the control socket {daemon.socket} in {socket_dir}", daemon.socket, socket_dir,
           SOCKET_DIR_MODE, DaemonConfig.socket)
    _check("daemon.state_dir", f"keep the event history and move counters in {daemon.state_dir}", daemon.state_dir,
           daemon.state_dir, DIR_MODE, DaemonConfig.state_dir)


def _check(field: str, what: str, path: str, directory: str, mode: int, example: str) -> None:
    try:
        _write_in(Path(directory), mode)
    except OSError as exc:
        if exc.errno not in REFUSALS:
            return
        if exc.errno == errno.ENOTDIR:  # no drop-in makes a file a directory
            fix = f"make {directory} a directory, or set another {field}, e.g. {example}"
        else:
            fix = unit_fit.write_fix(path, example, unit_fit.shipped(), directory)
        raise CannotWrite(f"{field}: cannot {what} ({exc.strerror}); a restart cannot fix that, and nothing was "
                          f"touched. Fix: {fix}") from None


def _write_in(directory: Path, mode: int) -> None:
    """Make `directory` if it is missing, and a file in it (removed at once); raises OSError."""
    if not directory.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=mode)
    fd, probe = tempfile.mkstemp(dir=directory, prefix=PROBE)
    os.close(fd)
    os.unlink(probe)
