"""`bondctl watch`: the status table and the newest events, for a person in a maintenance window."""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from collections import deque

from vfbond.ctl.render import event_line, status_text
from vfbond.ctl.sources import followed, gather_status
from vfbond.shared import exitcodes
from vfbond.shared.protocol import CommandError
from vfbond.shared.status import EventDict


def cmd_watch(args: argparse.Namespace) -> int:
    """The status table and the newest events, redrawn on each event vfbondd records and every
    --interval seconds, until Ctrl-C (exit 0)."""
    if args.json:
        print("bondctl watch: a view for a person; scripts: `bondctl status --json`, "
              "`bondctl events --follow --json`", file=sys.stderr)
        return exitcodes.USAGE
    news: queue.Queue[EventDict] = queue.Queue()
    recent: deque[str] = deque(maxlen=args.events)

    def listen() -> None:  # a thread: the stream blocks, the redraw timer must not
        for item in followed(args.socket, args.events, lambda _why: None):  # the table shows vfbondd down
            news.put(item)

    threading.Thread(target=listen, daemon=True).start()
    try:
        while True:
            try:
                table = status_text(args.bond, gather_status(args.bond, args.socket, args.timeout))
            except CommandError as exc:
                table = f"bondctl: {exc}"
            stamp = time.strftime("%H:%M:%S")
            # home + clear: one redraw, no scrollback flood
            sys.stdout.write(f"\x1b[H\x1b[2J{stamp}  bondctl watch {args.bond} (Ctrl-C to leave)\n\n{table}\n\n"
                             f"newest events:\n" + ("\n".join(recent) or "  (none yet)") + "\n")
            sys.stdout.flush()
            try:
                item = news.get(timeout=args.interval)
                while True:  # a burst (failover, slave down, degraded) is one redraw
                    recent.append(event_line(item))
                    item = news.get_nowait()
            except queue.Empty:
                pass
    except KeyboardInterrupt:
        return exitcodes.OK
