"""The supervisor core: kernel link events in, typed events and failover actions out."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any, Callable

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from . import kernel, policy, transitions
from .config import Config
from .events import Event, EventType, History
from .inspect import BondState, read_bond
from .plan import UPPER_KINDS
from .watch.links import LinkEvent

log = logging.getLogger("vfbond")

Publish = Callable[[Event], None]


def log_line(event: Event) -> None:
    """One structured line per event on stdout: under systemd it lands in the journal as is."""
    print(json.dumps({"event": event.type.value, "severity": event.severity.name.lower(),
                      "message": event.message(), **{k: v for k, v in event.to_dict().items()
                                                     if k not in ("type", "severity")}}),
          file=sys.stdout, flush=True)


class Supervisor:
    def __init__(self, config: Config, ipr: AsyncIPRoute, history: History, publish: Publish) -> None:
        self.config = config
        self.ipr = ipr
        self.history = history
        self.publish = publish
        self.reenslave_grace = 0.0  # seconds to leave a returned VF to its backend before enslaving it
        self.state: BondState | None = None
        self._reason = ""  # why the next change we see happened, when we caused it
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def bond(self) -> str:
        return self.config.bond.name

    def primary_ifname(self) -> str | None:
        label = self.config.bond.primary
        if not label or self.state is None:
            return None
        spec = self.config.bond.slave(label)
        for s in self.state.slaves:
            if (spec.mac and spec.mac in (s.perm_mac, s.link.mac)) or (spec.name and spec.name == s.name):
                return s.name
        return None

    def emit(self, event: Event) -> None:
        self.history.append(event)
        log_line(event)
        self.publish(event)

    def verdicts(self) -> dict[str, str]:
        """Per-slave verdicts from the kernel's MII view."""
        if self.state is None:
            return {}
        return {s.name: "up" if s.mii_status == "up" and s.link.carrier else "down" for s in self.state.slaves}

    async def refresh(self) -> None:
        """Read the bond, turn differences into events."""
        async with self._lock:
            cur = await read_bond(self.ipr, self.bond)
            reason, self._reason = self._reason, ""
            for event in transitions.derive(self.state, cur, self.bond, self.primary_ifname(),
                                            expected=len(self.config.bond.slaves), reason=reason):
                self.emit(event)
            self.state = cur

    async def switch(self, target: str, reason: str) -> None:
        self._reason = reason
        await kernel.set_active_slave(self.ipr, self.bond, target)

    def _configured(self, ev: LinkEvent) -> bool:
        return any((s.mac and s.mac == ev.mac) or (s.name and s.name == ev.name) for s in self.config.bond.slaves)

    async def on_link(self, ev: LinkEvent) -> None:
        state = self.state
        ours = state is not None and (ev.index == state.link.index or ev.master == state.link.index
                                      or any(s.link.index == ev.index for s in state.slaves))
        if state is not None and not ev.gone and not ev.carrier and ev.name == state.active_slave \
                and self.config.failover.fast:
            await self._fast_failover(ev)
        if state is not None and not ev.gone and ev.master is None and ev.kind not in UPPER_KINDS \
                and self._configured(ev):
            task = asyncio.create_task(self._reenslave(ev))  # may wait out the grace: don't stall events
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if ours or self._configured(ev):
            await self.refresh()

    async def _fast_failover(self, ev: LinkEvent) -> None:
        """Act on the carrier event now rather than on the kernel's next miimon poll."""
        verdicts = {**self.verdicts(), ev.name: "down"}
        decision = policy.decide(ev.name, verdicts, self.primary_ifname(), self.config.bond.primary_reselect)
        if decision.switch_to is None:
            return
        try:
            await self.switch(decision.switch_to, f"{decision.reason} (event-driven, "
                                                  f"{(time.monotonic() - ev.at) * 1000:.1f} ms after the event)")
        except NetlinkError as exc:
            log.warning("fast failover to %s refused by the kernel (%s); miimon will act", decision.switch_to, exc)

    async def _reenslave(self, ev: LinkEvent) -> None:
        if self.reenslave_grace:
            await asyncio.sleep(self.reenslave_grace)
        current = await read_bond(self.ipr, self.bond)
        if current is None or current.slave(ev.name) is not None:
            return
        try:
            (msg,) = tuple(await self.ipr.link("get", index=ev.index))
        except NetlinkError:
            return  # gone again
        if msg.get("master"):
            return  # someone (NetworkManager) attached it meanwhile
        self._reason = f"VF {ev.mac} returned as {ev.name}: re-enslaved by vfbondd"
        await kernel.enslave(self.ipr, self.bond, ev.name)

    def status(self) -> dict[str, Any]:
        last = self.history.last(1, (EventType.FAILOVER, EventType.FAILBACK))
        return {
            "bond": self.state.to_dict() if self.state else None,
            "verdicts": self.verdicts(),
            "primary": self.primary_ifname(),
            "last_failover": last[0].to_dict() if last else None,
        }
