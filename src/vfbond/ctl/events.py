"""`bondctl events`: vfbondd's event history, asked of vfbondd, else read from the file it left."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vfbond.ctl.configured import hint
from vfbond.ctl.render import event_line
from vfbond.ctl.sources import followed
from vfbond.shared import exitcodes
from vfbond.shared.protocol import QUICK_TIMEOUT, CommandError, DaemonNotRunning, request
from vfbond.shared.status import EventDict

HISTORY = "events.jsonl"  # in daemon.state_dir (report/history.py writes it)


def _say(text: str) -> None:
    print(f"bondctl: {text}", file=sys.stderr, flush=True)


def cmd_events(args: argparse.Namespace) -> int:
    if args.follow:
        return _follow(args)
    source = ""  # the history file read, when vfbondd did not answer
    try:
        events = request(args.socket, "events", {"count": args.count}, timeout=args.timeout or QUICK_TIMEOUT)
    except DaemonNotRunning:
        events, source = _from_disk(args)
    if args.json:
        print(json.dumps(events, indent=2, sort_keys=True, default=str))
        return exitcodes.OK
    for e in events:
        print(event_line(e))
    if not events:
        print(f"no events recorded{f' in {source}' if source else ''}")
    return exitcodes.OK


def _from_disk(args: argparse.Namespace) -> tuple[list[EventDict], str]:
    """The history vfbondd persisted (it survives vfbondd), saying on stderr which file it is."""
    from vfbond.report.history import History

    path = Path(args.state_dir) / HISTORY
    where = hint("state_dir", args.state_dir, "--state-dir")
    try:
        path.open("rb").close()  # History would start empty on an unreadable file: say why here
    except FileNotFoundError:
        _say(f"vfbondd is not running (no socket at {args.socket}) and {path} does not exist{where}")
        return [], str(path)
    except OSError as exc:
        raise CommandError(f"vfbondd is not running and its history {path} cannot be read: "
                           f"{exc.strerror or exc} (it is root's: run as root)", exitcodes.FAILED) from None
    _say(f"vfbondd is not running (no socket at {args.socket}): the history in {path}{where}")
    history = History(path, size=max(args.count, 1))
    return [e.to_dict() for e in history.last(args.count)], str(path)


def _follow(args: argparse.Namespace) -> int:
    """The newest --count events, then each as vfbondd records it, until Ctrl-C. When vfbondd stops or
    restarts, say so on stderr and follow it again once it is back."""
    try:
        for item in followed(args.socket, args.count, _say):
            print(json.dumps(item) if args.json else event_line(item), flush=True)
    except KeyboardInterrupt:  # how a person ends it
        pass
    return exitcodes.OK
