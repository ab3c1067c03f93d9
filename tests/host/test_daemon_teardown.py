"""A start that fails half-way closes what it had opened, in reverse, and says "stopped"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.host

RUN = """
import asyncio, json, sys
from vfbond.config import parse
from vfbond.daemon.lifecycle import Daemon

async def main():
    daemon = Daemon(parse(sys.argv[1]), "vfbond.yaml", apply=False)
    try:
        await daemon.run()
    except OSError as exc:
        failed = type(exc).__name__
    left = sorted(t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task())
    print(json.dumps({"failed": failed, "tasks": left, "watcher": daemon.watcher._sock is not None,
                      "fastswitch": daemon.fastswitch._sock is not None}))

asyncio.run(main())
"""


def test_a_start_that_fails_at_the_control_socket_closes_everything_it_opened(netns, tmp_path: Path) -> None:
    ns = netns()
    (tmp_path / "file").write_text("")  # the control socket's directory cannot be made: start fails there
    config = ('bond: {slaves: [{label: sriov0, mac: "fa:16:3e:00:00:01"}, {label: sriov1, mac: "fa:16:3e:00:00:02"}]}\n'
              f"backend: netlink\ndaemon: {{socket: {tmp_path}/file/ctl.sock, state_dir: {tmp_path}/state}}\n")
    done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", RUN, config], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    left = json.loads(done.stdout.splitlines()[-1])
    assert left == {"failed": "FileExistsError", "tasks": [], "watcher": False, "fastswitch": False}, done.stderr
    events = [json.loads(line)["reason"] for line in (tmp_path / "state/events.jsonl").read_text().splitlines()]
    assert events[0].startswith("vfbondd") and events[0].endswith("started") and events[-1] == "vfbondd stopped"
