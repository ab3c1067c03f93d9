"""`bondctl watch`: the status table and the newest events, for a person in a maintenance window; with
--json, one line per redraw for a script that wants both."""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from collections import deque
from typing import Any

from vfbond.ctl.render import event_line, status_text
from vfbond.ctl.sources import absent, followed, gather_status, why_absent
from vfbond.shared import exitcodes
from vfbond.shared.protocol import CommandError
from vfbond.shared.status import EventDict


def _snapshot(args: argparse.Namespace) -> dict[str, Any]:
    """The status as `status --json` gives it, or why there is none."""
    try:
        data = gather_status(args.bond, args.socket, args.timeout)
    except CommandError as exc:
        return {"error": str(exc)}
    if data is None:
        return absent(args.bond)
    return dict(data)


def _draw(args: argparse.Namespace, recent: deque[str]) -> None:
    try:
        data = gather_status(args.bond, args.socket, args.timeout)
        table = status_text(args.bond, data) + ("" if data else f" ({why_absent()})")
    except CommandError as exc:
        table = f"bondctl: {exc}"
    stamp = time.strftime("%H:%M:%S")
    # home + clear: one redraw, no scrollback flood
    sys.stdout.write(f"\x1b[H\x1b[2J{stamp}  bondctl watch {args.bond} (Ctrl-C to leave)\n\n{table}\n\n"
                     f"newest events:\n" + ("\n".join(recent) or "  (none yet)") + "\n")
    sys.stdout.flush()


def cmd_watch(args: argparse.Namespace) -> int:
    """The status table and the newest events, redrawn on each event vfbondd records and every
    --interval seconds, until Ctrl-C (exit 0). --json: one object per redraw and line, the status
    and the events recorded since the line before."""
    news: queue.Queue[EventDict] = queue.Queue()
    recent: deque[str] = deque(maxlen=args.events)
    fresh: list[EventDict] = []  # for --json: the events since the last line (the first: the newest --events)

    def listen() -> None:  # a thread: the stream blocks, the redraw timer must not
        for item in followed(args.socket, args.events, lambda _why: None):  # the status shows vfbondd down
            news.put(item)

    threading.Thread(target=listen, daemon=True).start()
    try:
        while True:
            if args.json:
                print(json.dumps({"time": time.time(), "status": _snapshot(args), "events": fresh}, default=str),
                      flush=True)
                fresh = []
            else:
                _draw(args, recent)
            try:
                item = news.get(timeout=args.interval)
                while True:  # a burst (failover, slave down, degraded) is one redraw
                    recent.append(event_line(item))
                    fresh.append(item)
                    item = news.get_nowait()
            except queue.Empty:
                pass
    except KeyboardInterrupt:
        return exitcodes.OK
