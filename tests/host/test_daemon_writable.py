"""A real read-only mount where the control socket goes, as the unit's ProtectSystem=strict makes one: the
real vfbondd exits 10 with the drop-in that fixes it, and started nothing (issue 19: it used to apply the
config first, fail at the socket and be restarted by the unit in a loop)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vfbond.shared import exitcodes

pytestmark = pytest.mark.host


@pytest.fixture
def mount_point() -> Iterator[Path]:
    """Under /run, which the shipped unit makes read-only; the read-only tmpfs goes on it only inside the
    test's own mount namespace."""
    made = Path(tempfile.mkdtemp(prefix="vfbt-ro.", dir="/run"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


def test_a_socket_directory_on_a_read_only_mount_exits_10_before_anything_starts(
        netns: Callable[[], str], mount_point: Path, tmp_path: Path) -> None:
    ns = netns()
    state = tmp_path / "state"
    config = tmp_path / "vfbond.yaml"
    config.write_text('bond: {slaves: [{label: sriov0, mac: "fa:16:3e:00:00:01"}, '
                      '{label: sriov1, mac: "fa:16:3e:00:00:02"}]}\nbackend: netlink\n'
                      f"daemon: {{socket: {mount_point}/control.sock, state_dir: {state}}}\n")
    script = 'mount -t tmpfs -o ro tmpfs "$1" && exec "$2" -m vfbond.daemon -c "$3"'
    done = subprocess.run(["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private",
                           "sh", "-c", script, "sh", str(mount_point), sys.executable, str(config)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == exitcodes.CANNOT_WRITE, done.stderr
    assert done.stderr.splitlines() == [
        f"vfbondd: daemon.socket: cannot make the control socket {mount_point}/control.sock in {mount_point} "
        "(Read-only file system); a restart cannot fix that, and nothing was touched. Fix: systemctl edit vfbondd, "
        f"and under [Service] add ReadWritePaths={mount_point}"], done.stderr
    assert not (state / "events.jsonl").exists(), "vfbondd started (its first event) before it found out"
