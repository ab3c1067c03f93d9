"""Benchmarks, run by bench/run.sh in one lab boot: failover time and packets lost with the
kernel's miimon=1000 alone vs vfbondd's event-driven failover, interleaved in the same run; and
vfbondd's idle CPU and memory with and without probes. Figures go to BENCHMARKS.md as ratios.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until
from vfbondd_lab import LabDaemon, active, measure_failover, running_daemon

pytestmark = pytest.mark.bench

TRIALS = int(os.environ.get("VFBOND_BENCH_TRIALS", "5"))
PING_INTERVAL = 0.01  # 100 packets/s through the bond: 10 ms resolution for the outage
PROBES = """probes:
  enabled: true
  targets: [192.0.2.1, "2001:db8::1"]
  interval_ms: 500
  timeout_ms: 400
  failures: 3
"""


@pytest.fixture(scope="module")
def daemon(bonding: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabDaemon]:
    with running_daemon(tmp_path_factory.mktemp("bench")) as d:
        yield d


def failover_trial(d: LabDaemon) -> tuple[float, int]:
    """Cut the active VF's carrier under a 100 pps ping; (seconds to switch, packets lost)."""
    wait_until(lambda: active() == "vf0" and d.topo.carrier(0), 15, 0.05, "vf0 active and up")
    ping = subprocess.Popen(["ping", "-4", "-n", "-q", "-i", str(PING_INTERVAL), "-W", "1", "-w", "3",
                             d.topo.gw4], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    took = measure_failover(d.topo, 0, "vf1")
    out, _ = ping.communicate(timeout=30)
    d.topo.restore_carrier(0)
    sent, received = map(int, re.search(r"(\d+) packets transmitted, (\d+) received", out).groups())
    return took, sent - received


def cpu_and_rss(pid: int, seconds: float) -> tuple[float, float]:
    """CPU % of one core over `seconds` of idling, and RSS in MiB."""
    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), ticks()
    time.sleep(seconds)
    cpu = (ticks() - c0) / hz / (time.monotonic() - t0) * 100
    rss_kib = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
    return cpu, rss_kib / 1024


def test_bench(daemon: LabDaemon) -> None:
    results: dict[str, list[tuple[float, int]]] = {"kernel": [], "vfbondd": []}
    for _ in range(TRIALS):
        for fast in (False, True):
            daemon.write_config(fast=fast)
            daemon.bondctl("reload")
            results["vfbondd" if fast else "kernel"].append(failover_trial(daemon))
    wait_until(lambda: active() == "vf0", 15, 0.05, "vf0 active")

    daemon.write_config()
    daemon.bondctl("reload")
    time.sleep(2)
    assert daemon.proc is not None
    idle_cpu, idle_rss = cpu_and_rss(daemon.proc.pid, 30)
    daemon.write_config(extra=PROBES)
    daemon.bondctl("reload")
    wait_until(lambda: daemon.status()["verdicts"] == {"vf0": "up", "vf1": "up"}, 30, 0.5, "probes up")
    probe_cpu, probe_rss = cpu_and_rss(daemon.proc.pid, 30)

    k_time = statistics.median(t for t, _ in results["kernel"])
    v_time = statistics.median(t for t, _ in results["vfbondd"])
    k_lost = statistics.median(n for _, n in results["kernel"])
    v_lost = statistics.median(n for _, n in results["vfbondd"])
    table = "\n".join([
        f"| measure (median of {TRIALS}, interleaved, same boot) | kernel miimon=1000 alone | vfbondd event-driven | ratio |",
        "| --- | --- | --- | --- |",
        f"| failover time, carrier cut -> new active slave | {k_time * 1000:.0f} ms | {v_time * 1000:.0f} ms "
        f"| {k_time / v_time:.1f}x faster |",
        f"| pings lost at 100 pps | {k_lost:.0f} | {v_lost:.0f} | "
        f"{(k_lost / v_lost) if v_lost else float('inf'):.1f}x fewer |",
        "",
        "| vfbondd, idle 30 s | probes off | probes on (2 slaves x 2 targets, 500 ms) | ratio |",
        "| --- | --- | --- | --- |",
        f"| CPU (% of one emulated core) | {idle_cpu:.2f} % | {probe_cpu:.2f} % | "
        f"{(probe_cpu / idle_cpu) if idle_cpu else float('inf'):.1f}x |",
        f"| RSS | {idle_rss:.1f} MiB | {probe_rss:.1f} MiB | {probe_rss / idle_rss:.2f}x |",
        "",
        "raw (seconds, lost): " + repr({k: [(round(t, 3), n) for t, n in v] for k, v in results.items()}),
    ])
    print("\n" + table)
    out = os.environ.get("VFBOND_LAB_RESULTS")
    if out:
        Path(out, "bench.md").write_text(table + "\n")
    assert v_time < k_time and v_lost <= k_lost
