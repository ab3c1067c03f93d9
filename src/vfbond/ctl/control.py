"""The control socket: newline-delimited JSON requests and replies over a Unix stream socket.

One request per connection: {"cmd": "...", "args": {...}} -> {"ok": true, "data": ...}
or {"ok": false, "error": "...", "code": <exit code>}. A stream command (`follow`) answers with one
{"ok": true, "data": ...} line per item until the client goes away.

The socket is root's, or also daemon.socket_group's: that group is for readers (snmpd's
pass_persist agent, a monitoring user), so a peer that is not root may only use the `readers`
commands; reload and simulate-failover stay root's.
"""

from __future__ import annotations

import grp
import json
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vfbond.ctl import exitcodes

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger("vfbond")

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


class ControlServer:
    def __init__(self, path: str, handlers: Mapping[str, Handler], group: str | None = None,
                 streams: Mapping[str, Stream] | None = None, readers: frozenset[str] = frozenset()) -> None:
        self.path = Path(path)
        self.handlers = handlers
        self.streams = streams or {}
        self.group = group
        self.readers = readers  # the commands a peer other than root may use
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        import asyncio  # here, not at the top: bondctl's client side starts faster without it

        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()  # left over by a crash: nobody can be listening on it (systemd restarts us)
        # Created with a tight umask, so there is no window where the socket is world-accessible.
        old = os.umask(0o177 if self.group is None else 0o117)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old)
        if self.group is not None:
            os.chown(self.path, -1, grp.getgrnam(self.group).gr_gid)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import asyncio

        try:
            line = await reader.readline()
            refused = self._refused(line, writer.get_extra_info("socket"))
            stream = None if refused else self._stream(line)
            if refused:
                writer.write(json.dumps(refused).encode() + b"\n")
                await writer.drain()
            elif stream is None:
                writer.write(json.dumps(await self._dispatch(line)).encode() + b"\n")
                await writer.drain()
            else:
                async for item in stream:  # a slow reader holds up this connection only
                    writer.write(json.dumps({"ok": True, "data": item}).encode() + b"\n")
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _refused(self, line: bytes, sock: socket.socket) -> dict[str, Any] | None:
        """The answer to a peer that is not root asking for more than reading; None: go ahead."""
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                             struct.calcsize("3i")))
        if uid in (0, os.getuid()):
            return None
        try:
            cmd = json.loads(line)["cmd"]
        except (ValueError, KeyError, TypeError):
            return None  # _dispatch says what is wrong with it
        if cmd in self.readers:
            return None
        return {"ok": False, "code": exitcodes.REFUSED,
                "error": f"{cmd} needs root: members of daemon.socket_group may only read "
                         f"({', '.join(sorted(self.readers))})"}

    def _stream(self, line: bytes) -> AsyncIterator[Any] | None:
        try:
            request = json.loads(line)
            return self.streams[request["cmd"]](request.get("args") or {})
        except (ValueError, KeyError, TypeError):
            return None  # not a stream command: _dispatch answers (or says what is wrong)

    async def _dispatch(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            handler = self.handlers[request["cmd"]]
        except (ValueError, KeyError, TypeError):
            return {"ok": False, "error": f"bad request {line[:80]!r}", "code": exitcodes.USAGE}
        try:
            return {"ok": True, "data": await handler(request.get("args") or {})}
        except CommandError as exc:
            return {"ok": False, "error": str(exc), "code": exc.code}
        except Exception as exc:  # noqa: BLE001 - a bug in one command must not leave bondctl without an answer
            log.exception("control command %s failed", request["cmd"])
            return {"ok": False, "error": f"vfbondd failed on {request['cmd']}: {type(exc).__name__}: {exc}",
                    "code": exitcodes.FAILED}

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.path.unlink(missing_ok=True)


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
