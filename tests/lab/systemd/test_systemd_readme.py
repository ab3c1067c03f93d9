"""The README's "Install on the VM" steps, run verbatim on a VM with no vfbond (systemd boot only; last in
the boot, after the day0 modules, whose install it removes first).

The packing step runs in a copy of the checkout whose `wheelhouse` is the one lab/run-systemd.sh built
with the README's own command (scripts/wheelhouse.py build; the guest has no package index); the VM
step runs as root in the directory where the archive was unpacked, exactly as the README has it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Topology, purge_bonds, run, wait_until
from day0_lab import ROOT, UNIT, active_slave, show, unit_report

pytestmark = [
    pytest.mark.lab,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(os.environ.get("VFBOND_LAB_SYSTEMD") != "1" or not Path("/run/systemd/system").is_dir(),
                       reason="needs the systemd lab boot (lab/run-systemd.sh): systemd as PID 1"),
]


MAN_LINKS = ("/usr/local/share/man/man1/bondctl.1", "/usr/local/share/man/man8/vfbondd.8")


def install_blocks() -> tuple[str, str]:
    """The README's two sh blocks under "Install on the VM": pack (checkout side), install (VM side)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Install on the VM", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2, f"expected the packing and the install block, found {len(blocks)}"
    return blocks[0], blocks[1]


def sh(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`script` in `cwd` as root's login shell would run it, not with the lab venv first on PATH."""
    return run(["sh", "-eux", "-c", f"cd {shlex.quote(str(cwd))}\n{script}"], timeout=900, env={
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"})


def test_the_readme_install_steps_work_as_written(bonding: Path, tmp_path: Path) -> None:
    pack, install = install_blocks()
    run(["systemctl", "disable", "--now", UNIT], check=False, timeout=180)
    for path in ("/opt/vfbond", "/etc/vfbond", "/etc/systemd/system/vfbondd.service", "/usr/local/bin/bondctl",
                 *MAN_LINKS):
        shutil.rmtree(path, ignore_errors=True) if Path(path).is_dir() else Path(path).unlink(missing_ok=True)
    run(["systemctl", "daemon-reload"], timeout=180)
    purge_bonds()
    topo = Topology().setup()
    try:
        checkout = tmp_path / "checkout"
        for part in ("units", "examples"):
            shutil.copytree(ROOT / part, checkout / part)
        shutil.copytree(os.environ["VFBOND_LAB_WHEELHOUSE"], checkout / "wheelhouse")
        # The packing block's first line builds that wheelhouse (run-systemd.sh ran it); the rest as written.
        build, rest = pack.split("\n", 1)
        assert build.startswith(".venv/bin/python scripts/wheelhouse.py build wheelhouse"), build
        sh(rest, checkout)
        vm = tmp_path / "vm"
        vm.mkdir()
        shutil.copy(checkout / "vfbond-install.tgz", vm)
        done = sh(install, vm)
        print(f"README install block ran in {vm}:\n{done.stderr[-3000:]}")
        assert Path("/etc/vfbond/vfbond.yaml").stat().st_mode & 0o777 == 0o600  # it may hold SNMP secrets
        assert all(Path(link).resolve().is_file() for link in MAN_LINKS), "man pages not linked from the wheel"
        assert show("ActiveState")["ActiveState"] == "active", unit_report()
        wait_until(lambda: active_slave() == "vf0", 120, 0.5, f"bond0 up with vf0 active\n{unit_report()}")
        status = json.loads(run(["/opt/vfbond/bin/bondctl", "status", "--json"]).stdout)
        assert status["source"] == "vfbondd" and status["bond"]["fail_over_mac"] == "active", status
        assert topo.ping_gateway(), "gateway unreachable through the bond the README's steps set up"
    finally:
        run(["systemctl", "stop", UNIT], check=False, timeout=180)
        topo.teardown()
