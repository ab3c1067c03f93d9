"""What each control command does. The protocol (ctl/control.py: framing, access, error answers)
only carries them, as aiosmtpd's protocol carries its handler's methods."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from vfbond.daemon.running import RunningConfig
from vfbond.report.followers import Followed, Followers
from vfbond.report.history import History
from vfbond.shared import exitcodes
from vfbond.shared.protocol import CommandError, Handler, Stream
from vfbond.shared.status import EventDict, Status
from vfbond.supervise import simulate
from vfbond.supervise.simulate import report_dict, switch_and_prove
from vfbond.supervise.supervisor import Supervisor

MAX_PAUSE_S = 7 * 86400
MAX_COUNT = 100_000  # more events than any history keeps


def _count(args: dict[str, Any], default: int) -> int:
    """An event count from a request; a bad one is a usage error (the server answers ValueError so)."""
    count = args.get("count", default)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_COUNT:
        raise ValueError(f"count must be a whole number from 0 to {MAX_COUNT}, not {count!r}")
    return count


class Commands:
    READERS = frozenset({"status", "events", "follow"})  # the commands a peer other than root may use

    def __init__(self, status: Callable[[], Status], history: History, followers: Followers,
                 supervisor: Supervisor, running: RunningConfig) -> None:
        self._status = status
        self.history = history
        self.followers = followers
        self.supervisor = supervisor
        self.running = running

    def handlers(self) -> dict[str, Handler]:
        return {"status": self.status, "events": self.events, "reload": self.reload,
                "simulate-failover": self.simulate_failover, "pause": self.pause, "resume": self.resume}

    def streams(self) -> dict[str, Stream]:
        return {"follow": self.follow}

    async def status(self, args: dict[str, Any]) -> Status:
        return self._status()

    async def events(self, args: dict[str, Any]) -> list[EventDict]:
        return [e.to_dict() for e in self.history.last(_count(args, 50))]

    def follow(self, args: dict[str, Any]) -> AsyncIterator[Followed]:
        return self.followers.follow(self.history.last(_count(args, 10)))

    async def reload(self, args: dict[str, Any]) -> Any:
        return await self.running.reload()

    async def pause(self, args: dict[str, Any]) -> Any:
        reason = args.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200 or not reason.isprintable():
            raise ValueError("pause needs a reason: 1 to 200 printable characters on one line (e.g. a ticket)")
        seconds = args.get("seconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                                    or not 0 < seconds <= MAX_PAUSE_S):
            raise ValueError(f"pause seconds must be more than 0 and at most {MAX_PAUSE_S} (7 days), or absent")
        return self.running.pause(reason.strip(), None if seconds is None else float(seconds)).to_dict()

    async def resume(self, args: dict[str, Any]) -> Any:
        return {"resumed": self.running.resume()}

    async def simulate_failover(self, args: dict[str, Any]) -> Any:
        sup = self.supervisor
        await sup.refresh()
        try:
            active, backup = simulate.pick_backup(sup, force=bool(args.get("force")))
        except simulate.Refused as exc:
            raise CommandError(str(exc), exitcodes.NO_BOND if exc.no_bond else exitcodes.REFUSED) from None
        reports = {"failover": report_dict(await switch_and_prove(sup, backup, "simulate-failover (bondctl)"))}
        if args.get("restore"):
            await asyncio.sleep(float(args.get("hold", 1.0)))
            reports["restore"] = report_dict(await switch_and_prove(sup, active, "simulate-failover --restore"))
        return reports
