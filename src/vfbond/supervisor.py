"""The supervisor core: kernel link events in, typed events and failover actions out."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from . import kernel, policy, transitions, udev
from .announce import announce
from .config import Config
from .diagnose import bond_warnings
from .events import Event, EventType, History
from .flap import FlapLimiter
from .health import Verdict
from .inspect import BondState, SlaveState, read_bond
from .plan import UPPER_KINDS
from .watch.links import LinkEvent

if TYPE_CHECKING:
    from .probing import Probing  # scapy: loaded only when probes are enabled

log = logging.getLogger("vfbond")

Publish = Callable[[Event], None]


class Supervisor:
    def __init__(self, config: Config, ipr: AsyncIPRoute, history: History, publish: Publish) -> None:
        self.config = config
        self.ipr = ipr
        self.history = history
        self.publish = publish
        self.flaps = FlapLimiter(config.alerts.flap_limit)
        self.reenslave_grace = 0.0  # seconds to leave a returned VF to its backend before enslaving it
        self.state: BondState | None = None
        self._reason = ""  # why the next change we see happened, when we caused it
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.probing: Probing | None = None  # set when probes are enabled
        self._isolated = False
        # A slave the operator made active on purpose (simulate-failover): no failback off it
        # while it stays healthy. Cleared when it fails or the operator switches again.
        self.pinned: str | None = None

    @property
    def bond(self) -> str:
        return self.config.bond.name

    def primary_ifname(self) -> str | None:
        label = self.config.bond.primary
        return self._ifname_of(label) if label else None

    def emit(self, event: Event) -> None:
        """Record and alert; a flapping link's up/down events are folded into one summary."""
        for passed in self.flaps.filter(event):
            self.history.append(passed)
            self.publish(passed)

    def flush_flaps(self) -> None:
        for summary in self.flaps.expire():
            self.history.append(summary)
            self.publish(summary)

    def label_of(self, slave: SlaveState) -> str | None:
        return next((spec.label for spec in self.config.bond.slaves
                     if spec.matches(slave.name, slave.perm_mac, slave.link.mac)), None)

    def verdicts(self) -> dict[str, str]:
        """Per-slave verdicts by interface name: carrier + probes when probing, else the kernel's MII view."""
        if self.state is None:
            return {}
        if self.probing is not None:
            by_label = self.probing.verdicts()
            return {s.name: by_label.get(self.label_of(s) or "", "unknown") for s in self.state.slaves}
        return {s.name: "up" if s.mii_status == "up" and s.link.carrier else "down" for s in self.state.slaves}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_verdict(self, label: str, old: Verdict, new: Verdict) -> None:
        """Probe verdicts change outside netlink: report path failures and let the policy act."""
        slave = self._ifname_of(label) or label
        if new is Verdict.PATH_DOWN:
            self.emit(Event(EventType.SLAVE_DOWN, self.bond, slave=slave,
                            reason=f"path failure: no reply from {', '.join(self.config.probes.targets)} "
                                   f"for {self.config.probes.failures} probes while carrier is up"))
        elif old is Verdict.PATH_DOWN and new is Verdict.UP:
            self.emit(Event(EventType.SLAVE_UP, self.bond, slave=slave, reason="path restored: the gateway answers"))
        self._spawn(self.evaluate())

    def _ifname_of(self, label: str) -> str | None:
        if self.state is None:
            return None
        return next((s.name for s in self.state.slaves if self.label_of(s) == label), None)

    async def evaluate(self) -> None:
        """Act on the verdicts: fail over off a dead path, never onto a known-bad slave, fail back
        per primary_reselect. Without probes this mostly agrees with the kernel, but it also fails
        back after a carrier blip shorter than miimon, which the kernel never saw and so would never
        undo. With probes it raises isolation (without, the kernel's MII view reports it)."""
        if self.state is None or (self.probing is None and not self.config.failover.fast):
            return  # failover.fast off and no probes: the kernel's miimon alone decides
        verdicts = self.verdicts()
        active = self.state.active_slave
        if self.pinned is not None and verdicts.get(self.pinned, "missing") in policy.BAD:
            self.pinned = None  # the slave the operator chose failed: the policy takes over again
        decision = policy.decide(active, verdicts, self.primary_ifname(), self.config.bond.primary_reselect)
        if self.probing is not None and decision.isolated != self._isolated:
            self._isolated = decision.isolated
            kind = EventType.BOND_ISOLATED if decision.isolated else EventType.BOND_RESTORED
            self.emit(Event(kind, self.bond, reason=decision.reason if decision.isolated
                            else "a slave reaches the gateway again"))
        # A healthy pinned slave stays active: no failback off it.
        if decision.switch_to and decision.switch_to != active and self.pinned != active:
            try:
                await self.switch(decision.switch_to, decision.reason)
            except NetlinkError as exc:
                log.warning("switch to %s refused by the kernel: %s", decision.switch_to, exc)

    def _sync_probes(self) -> None:
        if self.probing is None or self.state is None:
            return
        active_label = None
        for slave in self.state.slaves:
            label = self.label_of(slave)
            if label is None:
                continue
            self.probing.bind(label, slave.name)
            self.probing.set_carrier(label, slave.link.carrier)
            if slave.name == self.state.active_slave:
                active_label = label
        self.probing.set_active(active_label)

    async def refresh(self) -> None:
        """Read the bond, turn differences into events."""
        async with self._lock:
            cur = await read_bond(self.ipr, self.bond)
            reason, self._reason = self._reason, ""
            events = transitions.derive(self.state, cur, self.bond, self.primary_ifname(),
                                        expected=len(self.config.bond.slaves), reason=reason)
            for event in events:
                self.emit(event)
            moved = any(e.type in (EventType.FAILOVER, EventType.FAILBACK) for e in events)
            if moved and cur is not None and cur.num_peer_notif == 0 and cur.addresses:
                # The kernel sends no gratuitous ARP / unsolicited NA with num_grat_arp=0, and
                # peers would keep sending to the old VF's MAC: announce the move ourselves.
                self._spawn(asyncio.to_thread(announce, cur.name, cur.link.mac, cur.addresses))
            self.state = cur
            self._sync_probes()
        await self.evaluate()

    async def switch(self, target: str, reason: str) -> None:
        state = self.state
        slave = state.slave(target) if state else None
        bond_index = state.link.index if state else await kernel.index(self.ipr, self.bond)
        slave_index = slave.link.index if slave else await kernel.index(self.ipr, target)
        self._reason = reason
        await kernel.set_active_slave(self.ipr, bond_index, slave_index)

    def _configured(self, ev: LinkEvent) -> bool:
        return any(spec.matches(ev.name, ev.mac) for spec in self.config.bond.slaves)

    async def on_link(self, ev: LinkEvent) -> None:
        state = self.state
        slave = next((s for s in state.slaves if s.link.index == ev.index), None) if state else None
        ours = state is not None and (ev.index == state.link.index or ev.master == state.link.index
                                      or slave is not None)
        if self.probing is not None and slave is not None and (label := self.label_of(slave)):
            self.probing.set_carrier(label, ev.carrier and not ev.gone)
        if state is not None and not ev.gone and not ev.carrier and ev.name == state.active_slave \
                and self.config.failover.fast:
            await self._fast_failover(ev)
        if state is not None and not ev.gone and ev.master is None and ev.kind not in UPPER_KINDS \
                and self._configured(ev):
            self._spawn(self._reenslave(ev))  # may wait out the grace: don't stall events
        if ours or self._configured(ev):
            await self.refresh()

    async def _fast_failover(self, ev: LinkEvent) -> None:
        """Act on the carrier event now rather than on the kernel's next miimon poll."""
        if kernel.has_carrier(ev.name):
            return  # a stale event (queued while the backend built the bond): the VF has carrier again
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
        if not await udev.settled(ev.index):
            log.warning("udev has not processed %s (ifindex %d) after 5 s: enslaving it under that name",
                        ev.name, ev.index)
        current = await read_bond(self.ipr, self.bond)
        if current is None or any(s.link.index == ev.index for s in current.slaves):
            return
        try:
            (msg,) = tuple(await self.ipr.link("get", index=ev.index))
        except NetlinkError:
            return  # gone again
        if msg.get("master"):
            return  # someone (NetworkManager) attached it meanwhile
        name = msg.get("ifname") or ev.name  # udev may have renamed it since the event
        self._reason = f"VF {ev.mac} returned as {name}: re-enslaved by vfbondd"
        await kernel.enslave(self.ipr, self.bond, ev.index)

    def status(self) -> dict[str, Any]:
        last = self.history.last(1, (EventType.FAILOVER, EventType.FAILBACK))
        health = {}
        if self.probing is not None:
            snapshot = self.probing.snapshot()
            health = {self._ifname_of(label) or label: {"label": label, **data} for label, data in snapshot.items()}
        return {
            "bond": self.state.to_dict() if self.state else None,
            "verdicts": self.verdicts(),
            "health": health,
            "probes": "enabled" if self.probing is not None else "disabled",
            "isolated": self._isolated,
            "primary": self.primary_ifname(),
            "last_failover": last[0].to_dict() if last else None,
            "warnings": bond_warnings(self.state, len(self.config.bond.slaves)) if self.state else [],
        }
