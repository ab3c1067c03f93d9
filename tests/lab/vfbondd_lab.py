"""A real vfbondd process in the lab guest, driven through its control socket."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import Topology, make_topology, run, wait_until
from kernel_log import KernelLog, moved_by

from vfbond.shared.protocol import request

BIN = Path(sys.executable).parent
CONFIG = """\
bond:
  name: bond0
  slaves:
    - {{label: sriov0, mac: "{mac0}"}}
    - {{label: sriov1, mac: "{mac1}"}}
  miimon: {miimon}
  fail_over_mac: active
  primary: sriov0
  primary_reselect: always
  ipv4: {{addresses: [192.0.2.10/24], gateway: 192.0.2.1}}
  ipv6: {{addresses: ["2001:db8::10/64"], gateway: "2001:db8::1"}}
{bond_extra}failover: {{fast: {fast}}}
backend: {backend}
daemon: {{socket: {dir}/ctl.sock, state_dir: {dir}/state}}
"""


# Fast IPv4 gateway probes: a dead path is found in about 0.75 s.
PROBES = """probes:
  enabled: true
  targets: [192.0.2.1]
  interval_ms: 200
  timeout_ms: 150
  failures: 3
"""


class LabDaemon:
    members = 2  # slaves of a built bond: the VFs (and a standby, where a test configures one)

    def __init__(self, topo: Topology, workdir: Path) -> None:
        self.topo = topo
        self.dir = workdir
        self.config = workdir / "vfbond.yaml"
        self.socket = str(workdir / "ctl.sock")
        self.log = workdir / "vfbondd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, miimon: int = 1000, fast: bool = True, extra: str = "", bond_extra: str = "",
                     backend: str = "netlink", gateways: bool = True) -> None:
        """`bond_extra`: lines for the bond section (indented by two spaces); `extra`: top-level sections.
        Without `gateways` (and without probes) nothing of vfbondd's own sends a frame after a failover:
        the failover check has no one to ask."""
        text = CONFIG.format(mac0=self.topo.mac(0), mac1=self.topo.mac(1), miimon=miimon, fast=str(fast).lower(),
                             dir=self.dir, bond_extra=bond_extra, backend=backend)
        if not gateways:
            text = text.replace(", gateway: 192.0.2.1", "").replace(', gateway: "2001:db8::1"', "")
        self.config.write_text(text + extra)

    def start(self, env: dict[str, str] | None = None) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([BIN / "vfbondd", "-c", self.config], stdout=log, stderr=log,
                                         env={**os.environ, **(env or {})})
        wait_until(self._ready, 300, 0.5, lambda: f"vfbondd to serve its socket\n{self.log_tail()}")

    def start_nowait(self, env: dict[str, str] | None = None) -> None:
        """vfbondd started and serving its socket, whatever the bond does (start() waits for it up)."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([BIN / "vfbondd", "-c", self.config], stdout=log, stderr=log,
                                         env={**os.environ, **(env or {})})
        wait_until(self.serving, 300, 0.5, lambda: f"vfbondd to serve its socket\n{self.log_tail()}")

    def serving(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, f"vfbondd exited\n{self.log_tail()}"
        try:
            self.status()
        except Exception:
            return False
        return True

    def types(self, since: float) -> list[str]:
        return [e["type"] for e in self.events_since(since)]

    def wait_event(self, kind: str, since: float, timeout: float = 60) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found[:] = [e for e in self.events_since(since) if e["type"] == kind]
            return bool(found)

        wait_until(seen, timeout, 0.3, lambda: f"a {kind} event\n{self.log_tail()}")
        return found[0]

    def _ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, f"vfbondd exited\n{self.log_tail()}"
        try:
            bond = self.status()["bond"]
        except Exception:
            return False
        return bool(bond) and len(bond["slaves"]) == self.members and bond["active_slave"] is not None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def status(self) -> dict[str, Any]:
        return request(self.socket, "status", timeout=10)

    def reload(self) -> Any:
        """Reload through the socket, in-process: a bondctl process costs seconds of imports under TCG."""
        return request(self.socket, "reload", timeout=300)

    def events(self, count: int = 200) -> list[dict[str, Any]]:
        return request(self.socket, "events", {"count": count}, timeout=10)

    def events_since(self, t: float) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["time"] >= t]

    def bondctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([BIN / "bondctl", *args, "--socket", self.socket], check=check, timeout=120)

    def log_tail(self, lines: int = 40) -> str:
        rc = self.proc.poll() if self.proc else None
        state = f"vfbondd exited with {rc}" if rc is not None else "vfbondd running"
        try:
            return f"--- vfbondd log ({state}) ---\n" + "\n".join(self.log.read_text().splitlines()[-lines:])
        except OSError:
            return f"(no vfbondd log; {state})"


def vfbondd_failed_over(d: LabDaemon, since: float, klog: KernelLog, old: str, new: str) -> dict[str, Any]:
    """vfbondd, not the kernel's MII poll, moved the bond from `old` onto `new` after `since` (wall
    clock) and the mark of `klog`: its failover event says event-driven, and the kernel logged the
    move before its poll saw `old` down. Meant with a miimon long enough (5000) that the kernel's
    poll rarely falls between the loss and vfbondd's move: the log's order, not a time bound, decides."""
    moves = wait_until(lambda: [e for e in d.events_since(since) if e["type"] == "failover" and e["new_active"] == new],
                       15, 0.2, lambda: f"a failover event onto {new}\n{d.log_tail()}")
    who = moved_by(klog, "bond0", old, new)
    assert who == "vfbondd", f"the {who} moved bond0 onto {new}, not vfbondd: {moves[0]['reason']}\n{d.log_tail()}"
    assert "event-driven" in moves[0]["reason"], moves[0]["reason"]
    return moves[0]


def active() -> str:
    return Path("/sys/class/net/bond0/bonding/active_slave").read_text().strip()


def measure_failover(topo: Topology, i: int, to: str, timeout: float = 10.0) -> float:
    """Seconds from VF i's carrier loss to `to` becoming active, both seen by one tight sysfs poll.

    Timed from the carrier drop, not from starting `ip`: a process start costs 0.1-0.5 s under
    emulation and would swamp what is measured.
    """
    cut = threading.Thread(target=topo.cut_carrier, args=(i,))
    cut.start()
    carrier = Path(f"/sys/class/net/{topo.vf(i)}/carrier")
    t_loss = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            now = time.monotonic()
            if t_loss is None and carrier.read_text().strip() == "0":
                t_loss = now
            if t_loss is not None and active() == to:
                return now - t_loss
    finally:
        cut.join(30)
    raise AssertionError(f"{to} not active within {timeout}s of cutting {topo.vf(i)}'s carrier (active: {active()!r}, "
                         f"carrier loss {'seen' if t_loss else 'not seen'})")


def time_until_active(name: str, t0: float, timeout: float = 5.0) -> float:
    while time.monotonic() - t0 < timeout:
        if active() == name:
            return time.monotonic() - t0
        time.sleep(0.002)
    raise AssertionError(f"{name} not active after {timeout}s (active: {active()!r})")


@contextmanager
def running_daemon(workdir: Path, kind: str = "veth") -> Iterator[LabDaemon]:
    """A fresh topology of that kind and a vfbondd building bond0 over it from the default config."""
    topo = make_topology(kind).setup()
    d = LabDaemon(topo, workdir)
    d.write_config()
    try:
        d.start()
        yield d
    finally:
        d.stop()
        topo.teardown()
