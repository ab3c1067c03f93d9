"""vfbondd with its VF watch wired in, in a namespace without a bond: it follows /dev/kmsg, shows the watch
in status, survives a VF's link events, and stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vfbond.shared.protocol import request

from .conftest import sh

pytestmark = pytest.mark.host

BIN = Path(sys.executable).parent


def test_vfbondd_runs_the_vf_watch_and_stops_cleanly(netns, tmp_path: Path) -> None:
    ns = netns()
    sock = tmp_path / "ctl.sock"
    config = tmp_path / "vfbond.yaml"
    config.write_text(f"""\
bond:
  slaves:
    - {{label: sriov0, mac: "fa:16:3e:00:00:01"}}
    - {{label: sriov1, mac: "fa:16:3e:00:00:02"}}
backend: netlink
daemon: {{socket: {sock}, state_dir: {tmp_path / "state"}}}
""")
    log = tmp_path / "vfbondd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, BIN / "vfbondd", "-c", config, "--no-apply"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        sh(f"ip -n {ns} link add vf1 address fa:16:3e:00:00:02 type veth peer name sw1")
        sh(f"ip -n {ns} link set vf1 up && ip -n {ns} link set sw1 up && ip -n {ns} link set sw1 down")
        time.sleep(0.5)
        vf = request(str(sock), "status")["vf"]
        assert vf["kmsg"] == {"overwritten": 0, "dropped": 0, "errors": 0, "error": None}, vf
        assert proc.poll() is None, log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
