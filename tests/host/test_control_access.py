"""The control socket's group reads, only root changes: a real peer that is not root (SO_PEERCRED)."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import pwd
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from vfbond.ctl.control import ControlServer
from vfbond.shared import exitcodes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a peer as another user")

# The peer: a user in the socket's group, as snmpd's pass_persist agent would be.
PEER = """
import json, os, socket, sys
os.setgid(int(sys.argv[2])); os.setuid(int(sys.argv[3]))
with socket.socket(socket.AF_UNIX) as s:
    s.connect(sys.argv[1]); s.sendall(json.dumps({"cmd": sys.argv[4], "args": {}}).encode() + b"\\n")
    print(s.makefile().readline(), end="")
"""


@pytest.fixture
async def server() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory() as where:
        os.chmod(where, 0o755)  # the peer must reach the socket; the socket itself is 0660 root:nogroup
        path = str(Path(where) / "control.sock")

        async def answer(args: dict[str, Any]) -> Any:
            return "done"

        control = ControlServer(path, {"status": answer, "reload": answer}, group="nogroup",
                                readers=frozenset({"status"}))
        await control.start()
        yield path
        await control.close()


async def ask(path: str, cmd: str, as_root: bool = False) -> dict[str, Any]:
    ids = ["0", "0"] if as_root else [str(grp.getgrnam("nogroup").gr_gid), str(pwd.getpwnam("nobody").pw_uid)]
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", PEER, path, *ids, cmd],
                                   capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_a_group_member_reads_but_only_root_reloads(server: str) -> None:
    assert await ask(server, "status") == {"ok": True, "data": "done"}
    refused = await ask(server, "reload")
    assert refused["ok"] is False and refused["code"] == exitcodes.REFUSED
    assert "reload needs root" in refused["error"] and "(status)" in refused["error"]
    assert await ask(server, "reload", as_root=True) == {"ok": True, "data": "done"}
