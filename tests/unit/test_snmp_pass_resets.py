"""vfbond-snmp-pass outlives a control connection that fails (reset by vfbondd, a broken pipe to it):
that poll answers vfbondDaemonRunning false, the next one is served; only snmpd leaving ends it."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_snmp_view import status
from vfbond.mib import STATE_ROOT
from vfbond.poll import pass_persist
from vfbond.poll.pass_persist import Fetch, View, serve

RUNNING = f".{STATE_ROOT}.1.0"  # vfbondDaemonRunning: 1 true, 2 false
TWO_GETS = f"get\n{RUNNING}\nget\n{RUNNING}\n"
FALSE_THEN_TRUE = f"{RUNNING}\ninteger\n2\n{RUNNING}\ninteger\n1\n"


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(pass_persist.syslog, "syslog", lambda priority, message: lines.append(message))
    return lines


@pytest.fixture
def resetting_then_answering(tmp_path: Path) -> Iterator[str]:
    """A control socket that resets its first connection once the request is in (closed unread: the
    client's read gets ECONNRESET), then answers the second with a status."""
    path = str(tmp_path / "control.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(4)

    def serve_two() -> None:
        conn, _ = listener.accept()
        conn.recv(1, socket.MSG_PEEK)
        conn.close()
        conn, _ = listener.accept()
        with conn, conn.makefile("rwb") as f:
            f.readline()
            f.write(json.dumps({"ok": True, "data": status()}).encode() + b"\n")

    thread = threading.Thread(target=serve_two, daemon=True)
    thread.start()
    yield path
    thread.join(5)
    listener.close()


def test_a_reset_control_connection_fails_that_poll_only(resetting_then_answering: str, logged: list[str]) -> None:
    out = io.StringIO()
    serve(View(Fetch(resetting_then_answering), max_age=0), io.StringIO(TWO_GETS), out)
    assert out.getvalue() == FALSE_THEN_TRUE
    assert "reset" in logged[0].lower() and "vfbondDaemonRunning is false" in logged[0]
    assert logged[1:] == ["vfbondd answers again"]


def test_a_broken_pipe_to_vfbondd_is_not_snmpd_leaving(monkeypatch: pytest.MonkeyPatch, logged: list[str]) -> None:
    answers: list[BaseException | dict[str, Any]] = [BrokenPipeError(32, "Broken pipe"), status()]

    def request(*args: Any, **kwargs: Any) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    out = io.StringIO()
    monkeypatch.setattr(pass_persist, "request", request)
    monkeypatch.setattr("sys.stdin", io.StringIO(TWO_GETS))
    monkeypatch.setattr("sys.stdout", out)
    assert pass_persist.main(["--max-age", "0"]) == 0
    assert out.getvalue() == FALSE_THEN_TRUE


class GoneSnmpd(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_snmpd_leaving_still_ends_it_quietly(monkeypatch: pytest.MonkeyPatch, logged: list[str]) -> None:
    monkeypatch.setattr(pass_persist, "request", lambda *args, **kwargs: status())
    monkeypatch.setattr("sys.stdin", io.StringIO(TWO_GETS))
    monkeypatch.setattr("sys.stdout", GoneSnmpd())
    assert pass_persist.main([]) == 0
