"""The control socket's group reads, only root changes: a real peer that is not root (SO_PEERCRED).
A reader's flood of idle connections is capped and timed out, and neither starves root's `bondctl`
nor the server's descriptors (issue 19 item 5)."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import pwd
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from vfbond.ctl.control import CAPS, ControlServer
from vfbond.shared import exitcodes
from vfbond.shared.protocol import request

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a peer as another user")

# The peer: a user in the socket's group, as snmpd's pass_persist agent would be.
PEER = """
import json, os, socket, sys
os.setgid(int(sys.argv[2])); os.setuid(int(sys.argv[3]))
with socket.socket(socket.AF_UNIX) as s:
    s.connect(sys.argv[1]); s.sendall(json.dumps({"cmd": sys.argv[4], "args": {}}).encode() + b"\\n")
    print(s.makefile().readline(), end="")
"""


FLOOD = 1100  # more than the 1024 descriptors systemd gives vfbondd
READ_TIMEOUT = 1.0

# The reader: opens FLOOD connections and sends nothing, says so, then on a line from the test reads
# every connection's answer (an idle one gets its answer at the read timeout) and whether it closed.
READER = """
import collections, json, os, resource, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
os.setgroups([]); os.setgid(int(sys.argv[2])); os.setuid(int(sys.argv[3]))
socks = []
for _ in range(int(sys.argv[4])):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); socks.append(s)
print("connected", flush=True)
sys.stdin.readline()
seen = collections.Counter()
for s in socks:
    s.settimeout(5)
    f = s.makefile("rb")
    answer = json.loads(f.readline())["error"]
    seen[answer.split(" (")[0] + (", closed" if f.read() == b"" else ", open")] += 1
print(json.dumps(seen))
"""


@pytest.fixture
async def server() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory() as where:
        os.chmod(where, 0o755)  # the peer must reach the socket; the socket itself is 0660 root:nogroup
        path = str(Path(where) / "control.sock")

        async def answer(args: dict[str, Any]) -> Any:
            return "done"

        control = ControlServer(path, {"status": answer, "reload": answer}, group="nogroup",
                                readers=frozenset({"status"}), read_timeout=READ_TIMEOUT)
        await control.start()
        yield path
        await control.close()


def reader_ids() -> list[str]:
    """gid and uid of a member of the socket's group that is not root."""
    return [str(grp.getgrnam("nogroup").gr_gid), str(pwd.getpwnam("nobody").pw_uid)]


async def ask(path: str, cmd: str, as_root: bool = False) -> dict[str, Any]:
    ids = ["0", "0"] if as_root else reader_ids()
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


@contextmanager
def most_descriptors() -> Iterator[list[int]]:
    """The most descriptors this process (the server's) held at once while inside, above its start."""
    base, most, done = len(os.listdir("/proc/self/fd")), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.001):
            most[0] = max(most[0], len(os.listdir("/proc/self/fd")) - base)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield most
    finally:
        done.set()
        sampler.join()


async def test_a_reader_flood_neither_starves_root_nor_the_servers_descriptors(server: str) -> None:
    with most_descriptors() as most:
        reader = await asyncio.create_subprocess_exec(sys.executable, "-c", READER, server, *reader_ids(), str(FLOOD),
                                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert reader.stdin is not None and reader.stdout is not None
        assert await asyncio.wait_for(reader.stdout.readline(), 30) == b"connected\n"
        began = time.monotonic()
        assert await asyncio.to_thread(request, server, "status", timeout=2) == "done"
        answered = time.monotonic() - began
        reader.stdin.write(b"go\n")
        seen = json.loads(await asyncio.wait_for(reader.stdout.readline(), 60))
        assert await reader.wait() == 0
    assert seen == {"too many connections from readers, closed": FLOOD - CAPS["readers"],
                    f"no request within {READ_TIMEOUT:g} s, closed": CAPS["readers"]}
    assert answered < 0.5, f"root's status took {answered * 1000:.0f} ms"
    # The readers' cap, plus the reader's pipes and root's connection (both ends are in this process).
    assert most[0] <= CAPS["readers"] + 8, f"the server held {most[0]} descriptors for {FLOOD} connections"
    print(f"\n{FLOOD} reader connections: root's status in {answered * 1000:.1f} ms; "
          f"the server held at most {most[0]} more descriptors")
