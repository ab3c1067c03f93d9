"""Heavy libraries are loaded only on the paths that need them: `bondctl status`/`health`, answered by
vfbondd or read from sysfs without it, run in monitoring loops (bench/startup.py times them), and
vfbondd's probes and failover check build and parse their frames without scapy."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

HEAVY = ("pyroute2", "yaml", "scapy", "dbus_fast", "pysnmp", "asyncio", "ssl")

LOADED = """
import sys
{code}
print("loaded:", *sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r})))
"""


def loaded_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", LOADED.format(code=code, heavy=HEAVY)], capture_output=True,
                          text=True, check=True)
    return set(done.stdout.splitlines()[-1].split()[1:])


def answering_socket(path: Path) -> None:
    """A stand-in for vfbondd's control socket that answers one request with a healthy bond."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def answer() -> None:
        with server, server.accept()[0] as conn, conn.makefile("rwb") as f:
            f.readline()
            slaves = [{"link": {"name": n}, "mii_status": "up"} for n in ("vf0", "vf1")]
            bond = {"active_slave": "vf0", "slaves": slaves}
            f.write(json.dumps({"ok": True, "data": {"bond": bond, "verdicts": {}}}).encode() + b"\n")

    threading.Thread(target=answer, daemon=True).start()


def test_bondctl_health_answered_by_vfbondd_loads_no_heavy_library(tmp_path: Path) -> None:
    path = tmp_path / "ctl.sock"
    answering_socket(path)
    code = f"from vfbond.ctl.bondctl import main\nassert main(['health', '--socket', {str(path)!r}]) == 0"
    assert loaded_after(code) == set()


def test_bondctl_health_without_vfbondd_reads_sysfs_and_loads_no_heavy_library(tmp_path: Path) -> None:
    """vfbondd down is when the check matters: pyroute2 alone made it four times slower."""
    code = (f"from vfbond.ctl.bondctl import main\n"
            f"assert main(['health', '--bond', 'vfbt-none0', '--socket', {str(tmp_path / 'none.sock')!r}]) == 3\n"
            "assert 'vfbond.kernel.sysfs_state' in sys.modules, 'not the sysfs path'")
    assert loaded_after(code) == set()


def test_vfbondd_with_probes_and_the_failover_check_loads_no_scapy() -> None:
    code = ("import vfbond.daemon, vfbond.supervise.probing, vfbond.supervise.verify\n"
            "from vfbond.watch import arp, ndisc\n"
            "arp.replier(arp.request('02:00:00:00:00:01', '192.0.2.1', None), '02:00:00:00:00:01')\n"
            "ndisc.solicitation('02:00:00:00:00:01', '2001:db8::1')")
    assert "scapy" not in loaded_after(code)
