"""Connections to the control socket are capped per peer class and time out without a request; a
stream holds its slot while open and gives it back when its peer leaves. (The test's own uid is the
root class here; tests/host/test_control_flood.py floods as a reader.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from vfbond.ctl.control import ControlServer
from vfbond.report.followers import Followers
from vfbond.shared import exitcodes

READ_TIMEOUT = 0.3


async def status(args: dict[str, Any]) -> Any:
    return "fine"


@pytest.fixture
def followers() -> Followers:
    return Followers()


@pytest.fixture
async def server(tmp_path: Path, followers: Followers) -> AsyncIterator[str]:
    path = str(tmp_path / "control.sock")
    control = ControlServer(path, {"status": status}, streams={"follow": lambda args: followers.follow([])},
                            caps={"root": 2, "readers": 1}, read_timeout=READ_TIMEOUT)
    await control.start()
    yield path
    await control.close()


def asked(path: str, cmd: str) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(path)
        with contextlib.suppress(BrokenPipeError):  # refused over the cap: closed, maybe before we send
            sock.sendall(json.dumps({"cmd": cmd}).encode() + b"\n")
        return dict(json.loads(sock.makefile("rb").readline()))


async def ask(path: str, cmd: str = "status") -> dict[str, Any]:
    return await asyncio.to_thread(asked, path, cmd)


async def test_a_connection_over_the_cap_is_answered_at_once_and_idle_ones_time_out(server: str) -> None:
    idle = [await asyncio.open_unix_connection(server) for _ in range(2)]
    over = await asyncio.open_unix_connection(server)
    refused = json.loads(await asyncio.wait_for(over[0].readline(), READ_TIMEOUT / 2))  # before any timeout
    assert refused["ok"] is False and refused["code"] == exitcodes.FAILED
    assert "too many connections from root (2 open)" in refused["error"]
    assert await over[0].read() == b""  # and closed
    for reader, _writer in idle:  # no request: told why, then closed
        answer = json.loads(await asyncio.wait_for(reader.readline(), READ_TIMEOUT * 4))
        assert answer["code"] == exitcodes.USAGE and f"no request within {READ_TIMEOUT:g} s" in answer["error"]
        assert await reader.read() == b""
    assert await ask(server) == {"ok": True, "data": "fine"}  # the slots are free again


async def test_a_request_that_trickles_in_still_times_out(server: str) -> None:
    reader, writer = await asyncio.open_unix_connection(server)
    loop = asyncio.get_running_loop()
    began = loop.time()
    answered = asyncio.ensure_future(reader.readline())
    while not answered.done() and loop.time() - began < READ_TIMEOUT * 3:  # a byte now and then, no newline
        with contextlib.suppress(ConnectionError):
            writer.write(b" ")
        await asyncio.sleep(READ_TIMEOUT / 4)
    assert "no request within" in json.loads(await answered)["error"]
    assert loop.time() - began < READ_TIMEOUT * 2  # the time is for the whole line, not for each byte
    writer.close()


async def test_an_open_stream_holds_its_slot_and_frees_it_when_its_peer_leaves(server: str,
                                                                               followers: Followers) -> None:
    streams = []
    for _ in range(2):
        reader, writer = await asyncio.open_unix_connection(server)
        writer.write(b'{"cmd": "follow"}\n')
        streams.append(writer)
    while len(followers) < 2:
        await asyncio.sleep(0.01)
    assert "too many connections" in (await ask(server))["error"]
    await asyncio.sleep(READ_TIMEOUT * 2)  # a stream has its request: the read timeout is not for it
    assert len(followers) == 2
    for writer in streams:  # no event ever comes: the server notices the peer leaving all the same
        writer.close()
    for _ in range(100):
        if not len(followers):
            break
        await asyncio.sleep(0.01)
    assert len(followers) == 0
    assert await ask(server) == {"ok": True, "data": "fine"}
