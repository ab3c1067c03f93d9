"""`bondctl simulate-failover`: vfbondd switches to the backup and proves traffic flows on it; this
asks and prints its report."""

from __future__ import annotations

import argparse
import json
from typing import Any

from vfbond.shared import exitcodes
from vfbond.shared.protocol import APPLY_TIMEOUT, QUICK_TIMEOUT, request


def daemon_answers(path: str, timeout: float) -> None:
    """Raise DaemonNotRunning (or CommandError) unless vfbondd answers on `path`: asked before saying
    "switching", with the cheapest question it takes."""
    request(path, "status", timeout=min(timeout, QUICK_TIMEOUT))


def _line(step: str, r: dict[str, Any]) -> str:
    if r["traffic_ms"] is not None:
        traffic = (f"gateway {r['target']} answered after {r['traffic_ms']} ms, "
                   f"{r['probes_lost']} of {r['probes_sent']} probes lost")
    elif r["target"]:
        traffic = f"NO answer from {r['target']}"
    else:  # only with --force: vfbondd refuses a switch it cannot prove otherwise
        traffic = "traffic NOT proven: no gateway or probe target configured"
    return (f"{step}: {r['old_active']} -> {r['new_active']} in {r['switch_ms']} ms; {traffic}; "
            f"bond MAC now {r['mac_after']}")


def cmd_simulate(args: argparse.Namespace) -> int:
    daemon_answers(args.socket, args.timeout or QUICK_TIMEOUT)
    if not args.json:
        print("switching the bond to its backup and waiting for the gateway to answer through it ...", flush=True)
    reports = request(args.socket, "simulate-failover", {"restore": args.restore, "force": args.force,
                                                          "hold": args.hold}, timeout=args.timeout or APPLY_TIMEOUT)
    if args.json:
        print(json.dumps(reports, indent=2, sort_keys=True, default=str))
    else:
        for step, r in reports.items():
            print(_line(step, r))
    failed = any(r["target"] and r["traffic_ms"] is None for r in reports.values())
    return exitcodes.FAILED if failed else exitcodes.OK
