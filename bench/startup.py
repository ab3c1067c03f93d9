"""bondctl's startup, natively: the median wall time of `bondctl status --json` and `bondctl health`
over repeated runs, against a daemon socket nobody serves (bondctl then reads the kernel itself)
and against one that answers like vfbondd (a stand-in serving a canned status).

    python bench/startup.py [--runs 10] [--bondctl PATH]

Runs are interleaved (status, health, status, ...) so a busy machine weighs on both alike.
"""

from __future__ import annotations

import argparse
import json
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


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--bondctl", default=str(Path(sys.executable).parent / "bondctl"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        served = f"{tmp}/ctl.sock"
        serve(served)
        sockets = {"no daemon (kernel read)": f"{tmp}/nobody.sock", "daemon answering": served}
        commands = {"status --json": ["status", "--json"], "health": ["health"]}
        for label, path in sockets.items():
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, cmd in commands.items():
                    times[name].append(timed([args.bondctl, *cmd, "--socket", path]))
            for name, samples in times.items():
                print(f"bondctl {name:<14} {label:<24} median {statistics.median(samples):6.1f} ms "
                      f"(min {min(samples):.1f}, max {max(samples):.1f}, {args.runs} runs)")


if __name__ == "__main__":
    main()
