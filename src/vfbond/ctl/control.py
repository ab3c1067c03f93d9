"""The control socket: newline-delimited JSON requests and replies over a Unix stream socket.

One request per connection: {"cmd": "...", "args": {...}} -> {"ok": true, "data": ...}
or {"ok": false, "error": "...", "code": <exit code>}. A stream command (`follow`) answers with one
{"ok": true, "data": ...} line per item until the client goes away (closes its end). Every request
gets an answer, a bad or oversized one included (an error, then close): no connection just drops.

The socket is root's, or also daemon.socket_group's: that group is for readers (snmpd's
pass_persist agent, a monitoring user), so a peer that is not root may only use the `readers`
commands; reload and simulate-failover stay root's.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import json
import logging
import math
import os
import socket
import stat
import struct
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vfbond.shared import exitcodes
from vfbond.shared.protocol import CommandError, Handler, Stream

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger("vfbond")


# Connections are capped per peer class: root (or vfbondd's own user) and the readers, everyone else
# the socket lets in (daemon.socket_group). Readers can never use up root's connections or vfbondd's
# file descriptors (1024 under systemd), and no peer holds a slot long without a request.
CAPS = {"root": 64, "readers": 16}
BACKLOG = 100  # connections the kernel queues for us (asyncio's default)
PROBE_TIMEOUT = 1.0  # to connect to a socket found on our path: does a vfbondd answer there?
READ_TIMEOUT = 5.0  # for the request line, however slowly it trickles in
WRITE_TIMEOUT = 10.0  # for a one-off answer; a stream's follower may pause (it loses events, told)
LINE_LIMIT = 64 * 1024  # bytes in a request line; real ones are under 1 KB
BAD_ARGS = (ValueError, TypeError, OverflowError)  # a handler raises these on arguments it cannot use


class AlreadyServing(Exception):
    """Another vfbondd answers on the control socket's path."""

    code = exitcodes.ALREADY_RUNNING


class ControlServer:
    """Serves the handlers and streams. A handler (or a stream, before or between items) says its
    arguments are bad by raising ValueError, TypeError or OverflowError (int(1e999)), or CommandError
    with its own code: the peer is answered either way."""

    def __init__(self, path: str, handlers: Mapping[str, Handler], group: str | None = None,
                 streams: Mapping[str, Stream] | None = None, readers: frozenset[str] = frozenset(),
                 caps: Mapping[str, int] = CAPS, read_timeout: float = READ_TIMEOUT) -> None:
        self.path = Path(path)
        self.handlers = handlers
        self.streams = streams or {}
        self.group = group
        self.readers = readers  # the commands a peer other than root may use
        self.caps, self.read_timeout = caps, read_timeout
        self._open = dict.fromkeys(caps, 0)  # connections being served, per peer class
        self._listener: socket.socket | None = None
        self._serving: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        import asyncio  # here, not at the top: bondctl's client side starts faster without it

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.claim()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Created with a tight umask, so there is no window where the socket is world-accessible.
        old = os.umask(0o177 if self.group is None else 0o117)
        try:
            listener.bind(str(self.path))
        except OSError as exc:
            listener.close()
            if exc.errno == errno.EADDRINUSE:  # another vfbondd bound it since claim() looked
                raise _serving_elsewhere(self.path) from None
            raise
        finally:
            os.umask(old)
        if self.group is not None:
            os.chown(self.path, -1, grp.getgrnam(self.group).gr_gid)
        listener.listen(BACKLOG)
        listener.setblocking(False)
        self._listener = listener
        asyncio.get_running_loop().add_reader(listener.fileno(), self._accept)

    def claim(self) -> None:
        """Clear the way for our socket: a stale one (left by a crash) is removed; a live one is another
        vfbondd's, and two would supervise the same bond (AlreadyServing). Call it before touching the
        bond: start() comes after the first apply (and calls it again)."""
        path = self.path
        if not path.exists():
            return
        if not stat.S_ISSOCK(path.stat().st_mode):
            raise AlreadyServing(f"{path} exists and is not a socket: remove it, or set another daemon.socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(PROBE_TIMEOUT)
            try:
                probe.connect(str(path))
            except ConnectionRefusedError:
                path.unlink(missing_ok=True)  # nobody listens: left over by a crash
                return
            except FileNotFoundError:
                return
            except (TimeoutError, BlockingIOError):
                raise _serving_elsewhere(path) from None  # its backlog is full: alive, and busy
            raise _serving_elsewhere(path, _peer(probe)[0])

    def _accept(self) -> None:
        """Take what waits; a peer over its class's cap is answered and closed right here, so it
        never holds a descriptor past this call."""
        import asyncio

        assert self._listener is not None
        for _ in range(BACKLOG):
            try:
                conn, _address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors (EMFILE): the rest of vfbondd holds them
                log.warning("control socket: cannot accept (%s); trying again in 1 s", exc)
                loop = asyncio.get_running_loop()
                loop.remove_reader(self._listener.fileno())
                loop.call_later(1.0, self._resume)
                return
            who = "root" if _peer(conn)[1] in (0, os.getuid()) else "readers"
            if self._open[who] >= self.caps[who]:
                with contextlib.suppress(OSError):
                    conn.send(_answer(_error(exitcodes.FAILED, f"too many connections from {who} "
                                                               f"({self.caps[who]} open); try again later")),
                              socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
                conn.close()
                continue
            self._open[who] += 1
            task = asyncio.ensure_future(self._serve(conn, who))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    def _resume(self) -> None:
        import asyncio

        if self._listener is not None:
            asyncio.get_running_loop().add_reader(self._listener.fileno(), self._accept)

    async def _serve(self, conn: socket.socket, who: str) -> None:
        import asyncio

        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_unix_connection(sock=conn, limit=LINE_LIMIT)
            await self._converse(reader, writer, who)
        except (ConnectionError, TimeoutError):
            pass  # the peer left, or does not read its answer
        finally:
            self._open[who] -= 1
            if writer is None:
                conn.close()
            elif writer.transport.get_write_buffer_size():
                writer.transport.abort()  # a peer that does not read must not keep the descriptor
            else:
                writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, who: str) -> None:
        import asyncio

        try:
            line = await asyncio.wait_for(reader.readline(), self.read_timeout)
        except TimeoutError:
            return await _send(writer, _error(exitcodes.USAGE, f"no request within {self.read_timeout:g} s"))
        except ValueError:  # asyncio's LimitOverrunError, as readline raises it
            return await _send(writer, _error(exitcodes.USAGE, f"request too long ({LINE_LIMIT} bytes max)"))
        if not line:
            return  # the peer left without asking
        try:
            cmd, args = _parse(line)
        except ValueError as exc:
            return await _send(writer, _error(exitcodes.USAGE, str(exc)))
        known = {**self.handlers, **self.streams}
        if cmd not in known:
            return await _send(writer, _error(exitcodes.USAGE, f"unknown command {cmd!r}; vfbondd knows "
                                                               f"{', '.join(sorted(known))}"))
        if who != "root" and cmd not in self.readers:
            return await _send(writer, _error(
                exitcodes.REFUSED, f"{cmd} needs root: members of daemon.socket_group may only read "
                                   f"({', '.join(sorted(self.readers))})"))
        if cmd in self.streams:
            return await self._stream(cmd, args, reader, writer)
        try:
            answer = {"ok": True, "data": await self.handlers[cmd](args)}
        except Exception as exc:  # noqa: BLE001 - a bug in one command must not leave bondctl without an answer
            answer = _failure(cmd, exc)
        await _send(writer, answer)

    async def _stream(self, cmd: str, args: dict[str, Any], reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        """One line per item until the items end, fail (an error line) or the peer leaves."""
        import asyncio

        gone = asyncio.ensure_future(_until_eof(reader))
        item: asyncio.Future[Any] | None = None
        items: AsyncIterator[Any] | None = None
        try:
            items = self.streams[cmd](args)
            while True:
                item = asyncio.ensure_future(anext(items))
                await asyncio.wait([item, gone], return_when=asyncio.FIRST_COMPLETED)
                if not item.done():
                    return  # the peer left while we waited for the next item
                # A slow reader holds up this connection only; the stream decides what it loses.
                await _send(writer, {"ok": True, "data": item.result()}, timeout=None)
        except StopAsyncIteration:
            pass
        except ConnectionError:
            raise
        except Exception as exc:  # noqa: BLE001 - bad arguments, or a bug: the peer hears of it either way
            await _send(writer, _failure(cmd, exc))
        finally:
            await _stop(items, gone, item)

    async def close(self) -> None:
        import asyncio

        if self._listener is not None:  # only a socket we bound is ours to remove
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
            self.path.unlink(missing_ok=True)
        serving = list(self._serving)
        for task in serving:  # a follower waits for events that will not come now
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)


def _serving_elsewhere(path: Path, pid: int | None = None) -> AlreadyServing:
    return AlreadyServing(f"another vfbondd is serving {path}{f' (pid {pid})' if pid else ''}; stop it first, "
                          "or set another daemon.socket")


def _peer(sock: socket.socket) -> tuple[int, int]:
    """The pid and uid of the process at the other end (SO_PEERCRED)."""
    pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                        struct.calcsize("3i")))
    return pid, uid


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _parse(line: bytes) -> tuple[str, dict[str, Any]]:
    """The command and its arguments; ValueError says what is wrong with the request."""
    shape = '{"cmd": "...", "args": {...}}'
    try:
        request = json.loads(line, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise ValueError(f"bad request {line[:80]!r}: not JSON ({exc}); send {shape}") from None
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        raise ValueError(f"bad request {line[:80]!r}: no \"cmd\" string; send {shape}")
    args = request.get("args")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ValueError(f"bad request: args must be a JSON object, not {json.dumps(args)[:40]}; send {shape}")
    return request["cmd"], args


def _error(code: int, message: str) -> dict[str, Any]:
    return {"ok": False, "error": message, "code": code}


def _failure(cmd: str, exc: Exception) -> dict[str, Any]:
    """The answer when a command raised."""
    if isinstance(exc, CommandError):
        return _error(exc.code, str(exc))
    if isinstance(exc, BAD_ARGS):
        log.warning("control command %s: bad arguments", cmd, exc_info=exc)  # or a bug: the traceback tells
        return _error(exitcodes.USAGE, f"bad arguments for {cmd}: {exc}")
    log.error("control command %s failed", cmd, exc_info=exc)
    return _error(exitcodes.FAILED, f"vfbondd failed on {cmd}: {type(exc).__name__}: {exc}")


def _answer(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer).encode() + b"\n"


async def _send(writer: asyncio.StreamWriter, answer: dict[str, Any], timeout: float | None = WRITE_TIMEOUT) -> None:
    import asyncio

    writer.write(_answer(answer))
    await asyncio.wait_for(writer.drain(), timeout)


async def _stop(items: AsyncIterator[Any] | None, *waiting: asyncio.Future[Any] | None) -> None:
    """Cancel what still waits (a pending item runs inside the generator), then close the stream."""
    import asyncio

    pending = [future for future in waiting if future is not None and not future.done()]
    for future in pending:
        future.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    closing = getattr(items, "aclose", None)
    if closing is not None:
        await closing()


async def _until_eof(reader: asyncio.StreamReader) -> None:
    """Returns when the peer closes its end; what it sends meanwhile is read and dropped."""
    while await reader.read(4096):
        pass

