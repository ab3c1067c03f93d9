"""What each control command does. The protocol (ctl/control.py: framing, access, error answers)
only carries them, as aiosmtpd's protocol carries its handler's methods."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from vfbond.report.followers import Followers
from vfbond.report.history import History
from vfbond.shared import exitcodes
from vfbond.shared.protocol import CommandError, Handler, Stream
from vfbond.supervise import simulate
from vfbond.supervise.simulate import report_dict, switch_and_prove
from vfbond.supervise.supervisor import Supervisor


class Commands:
    READERS = frozenset({"status", "events", "follow"})  # the commands a peer other than root may use

    def __init__(self, status: Callable[[], dict[str, Any]], history: History, followers: Followers,
                 supervisor: Supervisor, reload: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self._status = status
        self.history = history
        self.followers = followers
        self.supervisor = supervisor
        self._reload = reload

    def handlers(self) -> dict[str, Handler]:
        return {"status": self.status, "events": self.events, "reload": self.reload,
                "simulate-failover": self.simulate_failover}

    def streams(self) -> dict[str, Stream]:
        return {"follow": self.follow}

    async def status(self, args: dict[str, Any]) -> Any:
        return self._status()

    async def events(self, args: dict[str, Any]) -> Any:
        return [e.to_dict() for e in self.history.last(int(args.get("count", 50)))]

    def follow(self, args: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return self.followers.follow(self.history.last(int(args.get("count", 10))))

    async def reload(self, args: dict[str, Any]) -> Any:
        return await self._reload()

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
