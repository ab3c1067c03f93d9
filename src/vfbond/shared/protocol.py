"""The control protocol's shared side: its errors, timeouts and handler types, and bondctl's client.

Newline-delimited JSON over a Unix stream socket, one request per connection:
{"cmd": "...", "args": {...}} -> {"ok": true, "data": ...} or {"ok": false, "error": "...", "code": <exit code>}.
A stream command (`follow`) answers with one {"ok": true, "data": ...} line per item until the client goes away.
The server is ctl/control.py's ControlServer.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from vfbond.shared import exitcodes

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
Stream = Callable[[dict[str, Any]], AsyncIterator[Any]]

# How long bondctl waits for an answer. A reload or simulate-failover may apply the config through
# NetworkManager, which takes tens of seconds on a slow (emulated) VM; everything else is a read.
APPLY_TIMEOUT = 120.0
QUICK_TIMEOUT = 10.0


class CommandError(Exception):
    def __init__(self, message: str, code: int = exitcodes.FAILED) -> None:
        super().__init__(message)
        self.code = code


class DaemonNotRunning(Exception):
    pass


def request(path: str, cmd: str, args: dict[str, Any] | None = None, timeout: float = QUICK_TIMEOUT) -> Any:
    """Blocking client used by bondctl. Raises DaemonNotRunning or CommandError (TIMEOUT: no answer in time)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)  # for connect, send and the answer alike
        try:
            sock.connect(path)
            with sock.makefile("rwb") as f:
                f.write(json.dumps({"cmd": cmd, "args": args or {}}).encode() + b"\n")
                f.flush()
                line = f.readline()
        except (FileNotFoundError, ConnectionRefusedError):
            raise DaemonNotRunning(path) from None
        except PermissionError:
            raise CommandError(f"no permission to use {path}: run as root (or set daemon.socket_group)",
                               exitcodes.FAILED) from None
        except TimeoutError:
            raise CommandError(f"vfbondd did not answer {cmd} within {timeout:g} s; it may still be working on it. "
                               "See `bondctl status` and `journalctl -u vfbondd`, or wait longer with --timeout "
                               "SECONDS", exitcodes.TIMEOUT) from None
    if not line:
        raise CommandError(f"vfbondd closed {path} without answering", exitcodes.FAILED)
    try:
        reply = json.loads(line)
    except ValueError:
        raise CommandError(f"vfbondd answered {line[:80]!r}, which is not JSON: is {path} its socket?",
                           exitcodes.FAILED) from None
    if not reply.get("ok"):
        raise CommandError(reply.get("error", "unknown error"), reply.get("code", exitcodes.FAILED))
    return reply.get("data")


def follow(path: str, cmd: str, args: dict[str, Any] | None = None) -> Iterator[Any]:
    """Blocking client of a stream command: each item as it comes. Raises DaemonNotRunning, or
    CommandError when vfbondd ends the stream (it stopped or restarted)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(QUICK_TIMEOUT)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise DaemonNotRunning(path) from None
        except PermissionError:
            raise CommandError(f"no permission to use {path}: run as root (or set daemon.socket_group)",
                               exitcodes.FAILED) from None
        sock.settimeout(None)  # events come when they come
        with sock.makefile("rwb") as f:
            f.write(json.dumps({"cmd": cmd, "args": args or {}}).encode() + b"\n")
            f.flush()
            for line in f:
                reply = json.loads(line)
                if not reply.get("ok"):
                    raise CommandError(reply.get("error", "unknown error"), reply.get("code", exitcodes.FAILED))
                yield reply.get("data")
    raise CommandError(f"vfbondd closed {path}: it stopped or restarted", exitcodes.NO_DAEMON)
