"""bondctl's side of the control socket: timeouts long enough for an apply, reported in one line."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vfbond.ctl import bondctl as cli
from vfbond.ctl import events, simulate, sources
from vfbond.shared import exitcodes, protocol


@pytest.fixture
def silent_daemon(tmp_path: Path) -> Iterator[str]:
    """A control socket that takes connections (the kernel's backlog) and never answers."""
    path = str(tmp_path / "control.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(8)
        yield path


def test_a_daemon_that_never_answers_is_a_timeout_error(silent_daemon: str) -> None:
    with pytest.raises(protocol.CommandError) as info:
        protocol.request(silent_daemon, "status", timeout=0.1)
    assert info.value.code == exitcodes.TIMEOUT and "did not answer" in str(info.value)


@pytest.mark.parametrize("command", [["status"], ["health"], ["events"], ["reload"], ["simulate-failover"]])
def test_bondctl_reports_a_timeout_in_one_line_with_its_own_exit_code(
        silent_daemon: str, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert cli.main([*command, "--socket", silent_daemon, "--timeout", "0.1"]) == exitcodes.TIMEOUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "0.1 s" in err and "--timeout" in err, err


@pytest.mark.parametrize(("command", "expected"), [
    ("status", protocol.QUICK_TIMEOUT), ("events", protocol.QUICK_TIMEOUT),
    ("reload", protocol.APPLY_TIMEOUT), ("simulate-failover", protocol.APPLY_TIMEOUT)])
def test_commands_that_apply_wait_for_the_slowest_apply(monkeypatch: pytest.MonkeyPatch, command: str,
                                                        expected: float) -> None:
    seen: list[float] = []

    def answer(path: str, cmd: str, args: dict[str, Any] | None = None,
               timeout: float = protocol.QUICK_TIMEOUT) -> Any:
        seen.append(timeout)
        raise protocol.CommandError("stop here")

    for module in (cli, sources, events, simulate):  # status is read in sources, events and simulate in theirs
        monkeypatch.setattr(module, "request", answer)
    monkeypatch.setattr(simulate, "daemon_answers", lambda path, timeout: None)
    cli.main([command])
    assert seen == [expected]
    assert protocol.APPLY_TIMEOUT >= 120 and protocol.QUICK_TIMEOUT <= 15
