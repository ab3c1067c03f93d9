"""bondctl's startup, natively: the median wall time of `bondctl status --json` and `bondctl health`
over repeated runs, against a daemon socket nobody serves (bondctl then reads the kernel itself,
from sysfs) and against one that answers like vfbondd (a stand-in serving a canned status), side by
side with their ratio, and whether `health` without vfbondd keeps its budget (exit 1 if not).

    python bench/startup.py [--runs 10] [--bondctl PATH] [--budget-ms 60]

Runs are interleaved (each command against each socket, then again) so a busy machine weighs on
every case alike. bondctl runs as installed: with its modules' bytecode cached (pip compiles it at
install), so PYTHONDONTWRITEBYTECODE is dropped and one untimed run of each case writes the caches.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

STATUS = {"bond": {"name": "bond0", "active_slave": "vf0", "mode": "active-backup", "fail_over_mac": "active",
                   "slaves": [{"link": {"name": n}, "mii_status": "up"} for n in ("vf0", "vf1")]},
          "verdicts": {"vf0": "up", "vf1": "up"}, "warnings": []}


def serve(path: str) -> None:
    """Answer every request with the canned status, as vfbondd's control socket would."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()

    def loop() -> None:
        while True:
            conn, _ = server.accept()
            with conn, conn.makefile("rwb") as f:
                f.readline()
                f.write(json.dumps({"ok": True, "data": STATUS}).encode() + b"\n")

    threading.Thread(target=loop, daemon=True).start()


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=ENV)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--bondctl", default=str(Path(sys.executable).parent / "bondctl"))
    p.add_argument("--budget-ms", type=float, default=60.0,
                   help="median `bondctl health` without vfbondd must stay under this (default: %(default)s)")
    args = p.parse_args()
    commands = {"status --json": ["status", "--json"], "health": ["health"]}
    with tempfile.TemporaryDirectory() as tmp:
        served = f"{tmp}/ctl.sock"
        serve(served)
        sockets = {"no daemon": f"{tmp}/nobody.sock", "answering": served}
        times: dict[tuple[str, str], list[float]] = {(c, s): [] for c in commands for s in sockets}
        for name, label in times:  # the warm-up: bytecode caches written, as after an install
            timed([args.bondctl, *commands[name], "--socket", sockets[label]])
        for _ in range(args.runs):
            for (name, label), samples in times.items():
                samples.append(timed([args.bondctl, *commands[name], "--socket", sockets[label]]))
    median = {case: statistics.median(samples) for case, samples in times.items()}
    print(f"median of {args.runs} runs  {'no daemon (sysfs)':>18}  {'daemon answering':>16}  ratio")
    for name in commands:
        alone, answered = median[(name, "no daemon")], median[(name, "answering")]
        print(f"bondctl {name:<14}  {alone:15.1f} ms  {answered:13.1f} ms  {alone / answered:4.2f}x")
    for (name, label), samples in times.items():
        print(f"  {name:<14} {label:<10} min {min(samples):6.1f}  max {max(samples):6.1f} ms")
    health = median[("health", "no daemon")]
    kept = health < args.budget_ms
    print(f"budget: bondctl health without vfbondd {health:.1f} ms {'<' if kept else '>='} {args.budget_ms:g} ms: "
          f"{'met' if kept else 'MISSED'}")
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main())
