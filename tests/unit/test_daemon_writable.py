"""vfbondd refuses to start, with exit 10 and one line naming the path, the error and the fix, when the file
system will not let it write its control socket's directory or its state directory (issue 19: under the
unit's ProtectSystem=strict a socket elsewhere made vfbondd exit after its first apply, and restart in a
loop). Checked before anything is built: `_serve` (the daemon) must never run here."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vfbond import config
from vfbond.config import unit_fit
from vfbond.config.schema import DaemonConfig
from vfbond.daemon import cli, writable
from vfbond.shared import exitcodes

BASE = "bond:\n  slaves: [{mac: 'fa:16:3e:00:00:01'}, {mac: 'fa:16:3e:00:00:02'}]\n"


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A directory under /run, which the shipped unit makes read-only (unlike /tmp, which it makes private)."""
    if not os.access("/run", os.W_OK):
        pytest.skip("needs root: a directory of its own under /run")
    made = Path(tempfile.mkdtemp(prefix="vfbt-writable.", dir="/run"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def vfbondd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Callable[[str], tuple[int, list[str]]]:
    """vfbondd's main with this daemon section: its exit code and its stderr lines; reaching the daemon
    is an exit 0 that touched nothing here."""
    async def serve(*args: Any) -> int:
        return exitcodes.OK

    monkeypatch.setattr(cli, "_serve", serve)

    def start(daemon: str) -> tuple[int, list[str]]:
        path = tmp_path / "vfbond.yaml"
        path.write_text(BASE + daemon)
        code = cli.main(["-c", str(path)])
        return code, capsys.readouterr().err.splitlines()

    return start


def refuse(monkeypatch: pytest.MonkeyPatch, directory: Path, code: int) -> None:
    """The file system answers `code` to any file made in `directory` (as a read-only mount, or a directory
    root cannot enter under the unit's bounded capabilities, would)."""
    real = tempfile.mkstemp

    def mkstemp(*args: Any, dir: str | Path | None = None, **kw: Any) -> tuple[int, str]:  # noqa: A002
        if dir is not None and Path(dir) == directory:
            raise OSError(code, os.strerror(code), str(directory / ".probe"))
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr(writable.tempfile, "mkstemp", mkstemp)


def check_config_fix(daemon: str, field: str) -> str:
    """The fix `bondctl check-config` gives for `field` of this daemon section under the shipped unit."""
    (misfit,) = [m for m in unit_fit.misfits(config.parse(BASE + daemon, host_checks=False), unit_fit.shipped())
                 if m.field == field]
    return misfit.fix


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EPERM], ids=errno.errorcode.get)
def test_a_socket_directory_the_file_system_refuses_exits_10_with_check_configs_fix(
        run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vfbondd: Any, code: int) -> None:
    sock = run_dir / "control.sock"
    daemon = f"daemon: {{socket: {sock}, state_dir: {tmp_path / 'state'}}}\n"
    refuse(monkeypatch, run_dir, code)
    rc, err = vfbondd(daemon)
    assert rc == exitcodes.CANNOT_WRITE == 10
    (line,) = err
    assert line.startswith(f"vfbondd: daemon.socket: cannot make the control socket {sock} in {run_dir} "
                           f"({os.strerror(code)}); a restart cannot fix that, and nothing was touched. Fix: "), line
    fix = check_config_fix(daemon, "daemon.socket")
    assert fix == f"systemctl edit vfbondd, and under [Service] add ReadWritePaths={run_dir}"
    assert line.endswith(f"Fix: {fix}"), line
    assert list(run_dir.iterdir()) == []


def test_a_state_dir_on_a_read_only_file_system_exits_10_with_check_configs_fix(
        run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vfbondd: Any) -> None:
    state = run_dir / "state"
    daemon = f"daemon: {{socket: {tmp_path / 'control.sock'}, state_dir: {state}}}\n"
    refuse(monkeypatch, state, errno.EROFS)
    rc, err = vfbondd(daemon)
    assert rc == exitcodes.CANNOT_WRITE
    (line,) = err
    assert line.startswith(f"vfbondd: daemon.state_dir: cannot keep the event history and move counters in "
                           f"{state} (Read-only file system); "), line
    assert line.endswith(f"Fix: {check_config_fix(daemon, 'daemon.state_dir')}"), line
    assert line.endswith(f"ReadWritePaths={state}"), line


@pytest.mark.parametrize("where", ["file/control.sock", "file/run/control.sock"])
def test_a_socket_directory_that_is_or_is_under_a_file_exits_10(tmp_path: Path, vfbondd: Any, where: str) -> None:
    """Real: no file can be made in a regular file, nor a directory under one (ENOTDIR)."""
    (tmp_path / "file").write_text("someone's notes")
    sock = tmp_path / where
    rc, err = vfbondd(f"daemon: {{socket: {sock}, state_dir: {tmp_path / 'state'}}}\n")
    assert rc == exitcodes.CANNOT_WRITE
    (line,) = err
    assert line.startswith(f"vfbondd: daemon.socket: cannot make the control socket {sock} in {sock.parent} "
                           "(Not a directory); "), line
    assert line.endswith(f"Fix: make {sock.parent} a directory, or set another daemon.socket, e.g. "
                         f"{DaemonConfig.socket}"), line
    assert (tmp_path / "file").read_text() == "someone's notes"
    assert not (tmp_path / "state").exists()  # the socket is checked first, and nothing after it


def test_a_state_dir_under_a_file_exits_10(tmp_path: Path, vfbondd: Any) -> None:
    (tmp_path / "file").write_text("")
    rc, err = vfbondd(f"daemon: {{socket: {tmp_path / 'control.sock'}, state_dir: {tmp_path / 'file/state'}}}\n")
    assert rc == exitcodes.CANNOT_WRITE
    assert err[0].startswith(f"vfbondd: daemon.state_dir: cannot keep the event history and move counters in "
                             f"{tmp_path / 'file/state'} (Not a directory); "), err


def test_a_full_disk_is_left_to_the_writers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vfbondd: Any) -> None:
    """ENOSPC can pass (the history is written best-effort): vfbondd starts."""
    state = tmp_path / "state"
    state.mkdir()
    refuse(monkeypatch, state, errno.ENOSPC)
    assert vfbondd(f"daemon: {{socket: {tmp_path / 'control.sock'}, state_dir: {state}}}\n") == (exitcodes.OK, [])


def test_missing_directories_are_made_as_their_owners_make_them_and_left_empty(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        writable.check(DaemonConfig(socket=str(tmp_path / "run/vfbond/control.sock"), state_dir=str(tmp_path / "lib")))
    finally:
        os.umask(old)
    assert (tmp_path / "run/vfbond").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "lib").stat().st_mode & 0o777 == 0o750  # the history's own: root-only
    assert list((tmp_path / "run/vfbond").iterdir()) == [] and list((tmp_path / "lib").iterdir()) == []
