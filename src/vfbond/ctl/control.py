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
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vfbond.shared import exitcodes
from vfbond.shared.protocol import CommandError, Handler, Stream

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger("vfbond")


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
