"""A second vfbondd on the same control socket: refused with its own exit code while the first one
answers; a socket left by a crash is taken over (issue 19: a debug run unlinked the live socket)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from vfbond.ctl.control import AlreadyServing, ControlServer
from vfbond.shared import exitcodes
from vfbond.shared.protocol import request


async def status(args: dict[str, Any]) -> Any:
    return "first"


async def test_a_second_server_on_a_live_socket_is_refused_and_the_first_keeps_it(tmp_path: Path) -> None:
    path = str(tmp_path / "control.sock")
    first = ControlServer(path, {"status": status})
    await first.start()
    try:
        second = ControlServer(path, {"status": status})
        with pytest.raises(AlreadyServing):
            second.claim()  # what vfbondd asks before it touches the bond
        with pytest.raises(AlreadyServing) as info:
            await second.start()
        assert info.value.code == exitcodes.ALREADY_RUNNING
        assert f"another vfbondd is serving {path} (pid {os.getpid()})" in str(info.value)
        assert "stop it first" in str(info.value) and "daemon.socket" in str(info.value)
        await second.close()  # as vfbondd's shutdown path would: the first one's socket is not its to remove
        assert os.path.exists(path)
        assert await asyncio.to_thread(request, path, "status") == "first"  # still the first one's socket
    finally:
        await first.close()


async def test_a_socket_left_by_a_crash_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "control.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(path)  # bound, never listening: what a killed vfbondd leaves
    server = ControlServer(path, {"status": status})
    await server.start()
    try:
        assert await asyncio.to_thread(request, path, "status") == "first"
    finally:
        await server.close()


async def test_a_file_that_is_not_a_socket_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    path.write_text("someone's notes")
    with pytest.raises(AlreadyServing, match="is not a socket"):
        await ControlServer(str(path), {"status": status}).start()
    assert path.read_text() == "someone's notes"
