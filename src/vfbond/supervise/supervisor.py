"""The supervisor: what each observation (link event, overrun, probe verdict) means for the bond.

Intake (watch/links.py, probing.py) turns kernel messages and probe replies into timestamped
observations; the supervisor turns them into decisions (policy.py); the executor (executor.py)
carries a decision out under the only lock and hands back what changed, with the decision's
reason, which becomes events here (transitions.py) for the reporter (reporter.py). The fast
failover (fastpath.py) is the supervisor's: it acts on the supervisor's decision for a carrier
loss, re-armed after every read.

A start says two things: "started" (daemon/lifecycle.py) and, once the bond is up, "bond up". Carriers
settling while VFs are enslaved are not news.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from pyroute2.netlink.exceptions import NetlinkError

from vfbond.config import Config
from vfbond.judge import policy, transitions
from vfbond.judge.bond_warnings import bond_warnings
from vfbond.judge.carriers import NEVER, Carriers
from vfbond.judge.drift import drifted
from vfbond.judge.transitions import IN_SERVICE
from vfbond.kernel import udev
from vfbond.kernel.announce import announce
from vfbond.kernel.bond_state import UPPER_KINDS, BondState, SlaveState
from vfbond.kernel.fastswitch import FastSwitch, Switched
from vfbond.kernel.rtnl import Rtnl
from vfbond.report.reporter import Reporter
from vfbond.shared.events import Event, EventType
from vfbond.shared.faults import Faults
from vfbond.shared.status import LabelledHealth, SupervisorStatus, Verdict
from vfbond.supervise.executor import Executor
from vfbond.supervise.fastpath import FastPath
from vfbond.supervise.isolation import Isolation
from vfbond.supervise.standby_watch import StandbyWatch
from vfbond.watch.links import LinkEvent, Observation, Overrun

if TYPE_CHECKING:
    from vfbond.supervise.probing import Probing
    from vfbond.supervise.verify import FailoverCheck

log = logging.getLogger("vfbond")


def bond_up(state: BondState | None, expected: int) -> bool:
    """Every configured slave enslaved with link, and one of them active."""
    return state is not None and state.active_slave is not None and \
        sum(1 for s in state.slaves if s.mii_status == "up" and s.link.carrier) >= expected


class Supervisor:
    def __init__(self, config: Config, ipr: Rtnl, reporter: Reporter, faults: Faults, *,
                 check: FailoverCheck | None = None, fastswitch: FastSwitch | None = None,
                 applying: Callable[[], bool] = lambda: False, on_vf_seen: Callable[[], None] = lambda: None,
                 on_drift: Callable[[str], None] = lambda _what: None,
                 read_gate: Callable[[], Awaitable[None]] | None = None) -> None:
        self.config = config
        self.ipr = ipr
        self.reporter = reporter
        self.faults = faults
        self.check = check  # proves each move of the active slave
        self.on_drift = on_drift  # a reading shows the bond's shape changed by someone else
        # True while the backend applies the config: it enslaves the VFs itself then (EBUSY otherwise).
        self.applying = applying
        self.on_vf_seen = on_vf_seen  # a configured VF appeared or changed: worth retrying an apply
        self.executor = Executor(config.bond.name, ipr, self._changed,
                                 quiet=fastswitch.answered if fastswitch is not None else None, read_gate=read_gate)
        self.fast = FastPath(self, fastswitch)
        self.reenslave_grace = 0.0  # seconds to leave a returned VF to its backend before enslaving it
        self.probing: Probing | None = None  # when probes are enabled: see use_probing
        self.starting = True  # until the bond is first up: settling carriers are not reported
        self.isolation = Isolation()
        self.standby = StandbyWatch(config, self.emit)  # on_standby, off_standby, the migration pattern
        self.carriers = Carriers()  # for updelay and downdelay
        self._reevaluate: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # A slave the operator made active on purpose (simulate-failover): no failback off it
        # while it stays healthy. Cleared when it fails or the operator switches again.
        self.pinned: str | None = None

    # --- views ----------------------------------------------------------------------------------

    @property
    def bond(self) -> str:
        return self.config.bond.name

    @property
    def state(self) -> BondState | None:
        return self.executor.state

    def primary_ifname(self) -> str | None:
        label = self.config.bond.primary
        return self._ifname_of(label) if label else None

    def standby_ifname(self) -> str | None:
        standby = self.config.bond.standby
        return self._ifname_of(standby.label) if standby else None

    def label_of(self, slave: SlaveState) -> str | None:
        return next((spec.label for spec in self.config.bond.members
                     if spec.matches(slave.name, slave.perm_mac, slave.link.mac)), None)

    def _ifname_of(self, label: str) -> str | None:
        if self.state is None:
            return None
        return next((s.name for s in self.state.slaves if self.label_of(s) == label), None)

    def verdicts(self) -> dict[str, Verdict]:
        """Per-slave verdicts by interface name: carrier + probes when probing, else the kernel's MII view."""
        if self.state is None:
            return {}
        if self.probing is not None:
            by_label = self.probing.verdicts()
            verdicts = {s.name: by_label.get(self.label_of(s) or "", Verdict.UNKNOWN) for s in self.state.slaves}
        else:
            verdicts = {s.name: Verdict.UP if s.mii_status in IN_SERVICE and s.link.carrier else Verdict.DOWN
                        for s in self.state.slaves}
        # Within downdelay a lost carrier is not a failure yet (the kernel waits as long).
        in_service = [s.name for s in self.state.slaves if s.mii_status in IN_SERVICE]
        holding = self.carriers.holding_down(self.config.bond.downdelay / 1000, in_service)
        return {name: Verdict.UP if verdict == Verdict.DOWN and name in holding else verdict
                for name, verdict in verdicts.items()}

    def _settling(self) -> dict[str, float]:
        return self.carriers.settling(self.config.bond.updelay / 1000)

    def set_config(self, config: Config) -> None:
        """Take a reloaded config (daemon/running.py swaps it in after everything else was built)."""
        self.config = config
        self.executor.bond = config.bond.name
        self.reporter.flaps.limit = config.alerts.flap_limit
        self.standby.reconfigure(config)
        self.fast.arm()

    def use_probing(self, probing: Probing | None) -> None:
        """Judge the slaves by these probes from now on (at start, and when a reload rebuilt them)."""
        self.probing = probing

    # --- reporting ------------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Report one event; a bond is reported isolated once, until a usable slave proves otherwise."""
        if self.isolation.admit(event, self._usable):
            self.reporter.emit(event)

    def _usable(self) -> bool:
        return Verdict.UP in self.verdicts().values()

    def _changed(self, prev: BondState | None, cur: BondState | None, reason: str) -> None:
        """The executor read the bond: keep carriers and probes in step, report what changed."""
        slaves = cur.slaves if cur else ()
        self.carriers.slaves_are(slave.name for slave in slaves)  # first: a slave's news is never forgotten
        for slave in slaves:
            # At our first look a carrier counts as settled; otherwise it changed since the last read.
            self.carriers.note(slave.name, slave.link.carrier, NEVER if prev is None else self.executor.read_at)
        self._sync_probes()
        if not self.applying() and (what := drifted(prev, cur)):
            self.on_drift(what)  # not the apply's own changes: the reconciler compares and repairs
        expected = len(self.config.bond.slaves)
        reason = self.fast.explain(prev, cur) or reason
        if self.starting:
            if bond_up(cur, expected):
                self.end_startup()
            self._check(cur, None)
            self.fast.arm()
            return
        events = transitions.derive(prev, cur, self.bond, self.primary_ifname(), expected=expected, reason=reason,
                                    standby=self.standby_ifname())
        for event in events:
            self.emit(event)
        self.standby.on_read(cur, self.label_of, self.verdicts())
        moved = next((e for e in events if e.type in (EventType.FAILOVER, EventType.FAILBACK)), None)
        self._check(cur, moved)
        self.fast.arm()
        if moved and cur is not None and cur.num_peer_notif == 0 and cur.addresses:
            # The kernel sends no gratuitous ARP / unsolicited NA with num_grat_arp=0, and
            # peers would keep sending to the old VF's MAC: announce the move ourselves.
            self.spawn(asyncio.to_thread(announce, cur.name, cur.link.mac, cur.addresses), "announce")

    def _check(self, cur: BondState | None, moved: Event | None) -> None:
        """Keep the peer-notification counters on the backups; prove a move off the hot path."""
        if self.check is not None:
            with self.faults.contained("failover check"):
                self.check.on_read(cur, moved, self.config, self.executor.read_at)

    def end_startup(self, waited: float | None = None) -> None:
        """Say once how the bond came up: when it is up, or (`waited`) when it took too long."""
        state, expected = self.state, len(self.config.bond.slaves)
        if state is None or state.active_slave is None:
            if waited is None:
                return
            # The start phase ends here whatever the carriers show: from now on every change is
            # judged and reported as at any other time (a VF that comes up later is news).
            self.starting = False
            self.reporter.emit(Event(EventType.WARNING, self.bond, reason=(
                f"{self.bond} not up {waited:.0f} s after start: "
                + ("it does not exist yet" if state is None else "no slave is active")
                + "; reporting every change from now on")))
            if state is not None:
                self.emit(Event(EventType.BOND_ISOLATED, self.bond, reason=f"no slave is active {waited:.0f} s "
                                "after start", details={"up": []}))
            return
        self.starting = False
        up = sorted(s.name for s in state.slaves if s.mii_status == "up" and s.link.carrier)
        self.reporter.emit(Event(EventType.DAEMON, self.bond, new_active=state.active_slave,
                                 reason=f"{self.bond} up: active {state.active_slave}, "
                                        f"{len(up)} of {expected} slaves up", details={"up": up}))
        if len(up) < expected:
            self.emit(Event(EventType.BOND_DEGRADED, self.bond, reason=f"{len(up)} of {expected} slaves up",
                            details={"up": up}))

    # --- observations ---------------------------------------------------------------------------

    async def observe(self, ob: Observation) -> None:
        if isinstance(ob, Overrun):
            self.faults.record("netlink overrun", "the kernel dropped link messages (ENOBUFS); reading "
                                                  "the bond again now")
            await self.refresh()
        elif isinstance(ob, Switched):
            await self.fast.switched(ob)
        else:
            await self.on_link(ob)

    async def on_link(self, ev: LinkEvent) -> None:
        self.carriers.note(ev.name, ev.carrier and not ev.gone, ev.at)
        state = self.state
        slave = next((s for s in state.slaves if s.link.index == ev.index), None) if state else None
        ours = state is not None and (ev.index == state.link.index or ev.master == state.link.index
                                      or slave is not None)
        spec = next((spec for spec in self.config.bond.members if spec.matches(ev.name, ev.mac)), None)
        configured = spec is not None
        self.standby.on_link(ev, self.label_of(slave) if slave else spec.label if spec else None)
        if self.probing is not None and slave is not None and (label := self.label_of(slave)):
            self.probing.set_carrier(label, ev.carrier and not ev.gone)
        await self.fast.on_link(ev, slave)
        if configured and not ev.gone:
            self.on_vf_seen()
            if state is not None and ev.master is None and ev.kind not in UPPER_KINDS and not self.applying():
                self.spawn(self._reenslave(ev), "re-enslave")  # may wait out the grace: don't stall events
        if ours or configured:
            # Not awaited: the messages of one change (carrier, bond and slave states) then share one
            # read in the executor's queue instead of one dump each (a flapping VF kept a core busy).
            self.spawn(self.refresh(since=ev.at), "refresh")

    def on_verdict(self, label: str, old: Verdict, new: Verdict) -> None:
        """Probe verdicts change outside netlink: report path failures and let the policy act."""
        slave = self._ifname_of(label) or label
        # ifindex: the IF-MIB trap needs it, and the VF may be gone when the trap goes out.
        found = self.state.slave(slave) if self.state else None
        details = {"ifindex": found.link.index} if found else {}
        if new == Verdict.PATH_DOWN:
            self.emit(Event(EventType.SLAVE_DOWN, self.bond, slave=slave, details=details,
                            reason=f"path failure: no reply from {', '.join(self.config.probes.targets)} "
                                   f"for {self.config.probes.failures} probes while carrier is up"))
        elif old == Verdict.PATH_DOWN and new == Verdict.UP:
            self.emit(Event(EventType.SLAVE_UP, self.bond, slave=slave, details=details,
                            reason="path restored: the gateway answers"))
        self.spawn(self.evaluate(), "evaluate")

    # --- decisions ------------------------------------------------------------------------------

    def refresh_soon(self) -> None:
        """Read the bond and act on it, from code that cannot wait for it (a callback)."""
        self.spawn(self.refresh(), "refresh")

    async def refresh(self, since: float | None = None) -> None:
        """Read the bond (unless a read since `since` shows it already), report what changed, act on it."""
        await self.executor.refresh(since=since)
        await self.evaluate()

    async def switch(self, target: str, reason: str) -> None:
        await self.executor.switch(target, reason)

    async def evaluate(self) -> None:
        """Act on the verdicts: fail over off a dead path, never onto a known-bad slave, fail back
        per primary_reselect once the primary has been up for updelay. Without probes this mostly
        agrees with the kernel, but it also fails back after a carrier blip shorter than miimon,
        which the kernel never saw and so would never undo. With probes it raises isolation
        (without, the kernel's MII view reports it)."""
        state = self.state
        if state is None or (self.probing is None and not self.config.failover.fast):
            return  # failover.fast off and no probes: the kernel's miimon alone decides
        verdicts = self.verdicts()
        active = state.active_slave
        if self.pinned is not None and verdicts.get(self.pinned, Verdict.MISSING) in policy.BAD:
            self.pinned = None  # the slave the operator chose failed: the policy takes over again
        settling = self._settling()
        decision = policy.decide(active, verdicts, self.primary_ifname(), self.config.bond.primary_reselect,
                                 frozenset(settling), self.standby_ifname())
        if self.probing is not None and not self.starting:
            self._report_path_isolation(decision)
        # A healthy pinned slave stays active: no failback off it.
        if decision.switch_to and decision.switch_to != active and self.pinned != active:
            try:
                await self.executor.switch(decision.switch_to, decision.reason)
            except NetlinkError as exc:
                log.warning("switch to %s refused by the kernel: %s", decision.switch_to, exc)
        elif settling:
            self._evaluate_at(min(settling.values()))
        self.fast.arm()  # verdicts and settling slaves change what a carrier loss calls for

    def _report_path_isolation(self, decision: policy.Decision) -> None:
        kind = self.isolation.probed(decision.isolated, self._usable)
        if kind is EventType.BOND_ISOLATED:
            self.emit(Event(kind, self.bond, reason=decision.reason))
        elif kind is EventType.BOND_RESTORED:
            self.emit(Event(kind, self.bond, reason="a slave reaches the gateway again"))

    def _evaluate_at(self, when: float) -> None:
        """A failback waits for updelay: look again when the first settling slave has settled."""
        if self._reevaluate is not None:
            self._reevaluate.cancel()
        delay = max(0.0, when - time.monotonic()) + 0.01
        self._reevaluate = asyncio.get_running_loop().call_later(
            delay, lambda: self.spawn(self.evaluate(), "evaluate"))

    def decide_carrier_loss(self, active: str) -> policy.Decision:
        """What a carrier loss on the active slave calls for (fastpath.py arms it, or acts on it)."""
        verdicts = {**self.verdicts(), active: Verdict.DOWN}
        return policy.decide(active, verdicts, self.primary_ifname(), self.config.bond.primary_reselect,
                             frozenset(self._settling()), self.standby_ifname())

    async def _reenslave(self, ev: LinkEvent) -> None:
        if self.reenslave_grace:
            await asyncio.sleep(self.reenslave_grace)
        if not await udev.settled(ev.index):
            log.warning("udev has not processed %s (ifindex %d) after 5 s: enslaving it under that name",
                        ev.name, ev.index)
        if self.applying():
            return  # the apply enslaves it
        await self.executor.enslave(ev.index, lambda name: f"VF {ev.mac} returned as {name}: re-enslaved by vfbondd")

    def _sync_probes(self) -> None:
        if self.probing is None or self.state is None:
            return
        active_label = None
        for slave in self.state.slaves:
            label = self.label_of(slave)
            if label is None:
                continue
            with self.faults.contained(f"probe socket on {slave.name}"):
                self.probing.bind(label, slave.name)
            self.probing.set_carrier(label, slave.link.carrier)
            if slave.name == self.state.active_slave:
                active_label = label
        self.probing.set_active(active_label)

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        """Run `coro` beside the caller; a fault in it is contained and counted."""
        async def contained() -> None:
            with self.faults.contained(what):
                await coro
        task = asyncio.create_task(contained())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def status(self) -> SupervisorStatus:
        last = self.reporter.history.last(1, (EventType.FAILOVER, EventType.FAILBACK))
        # The check of that very move (a check lands seconds after its move, maybe after the next move).
        checks = self.reporter.history.last(20, (EventType.FAILOVER_VERIFIED, EventType.FAILOVER_UNVERIFIED))
        check = [c for c in checks if last and c.details.get("move_time") == last[0].time][-1:]
        health: dict[str, LabelledHealth] = {}
        if self.probing is not None:
            snapshot = self.probing.snapshot()
            health = {self._ifname_of(label) or label: {"label": label, **data} for label, data in snapshot.items()}
        return {
            "bond_name": self.bond,
            "bond": self.state.to_dict() if self.state else None,
            "verdicts": self.verdicts(),
            "health": health,
            "probes": "enabled" if self.probing is not None else "disabled",
            "isolated": self.isolation.reported,
            "starting": self.starting,
            "primary": self.primary_ifname(),
            # in config order, present or not: pollers index the VFs by it (VFBOND-MIB vfbondSlaveTable)
            "configured": [{"label": spec.label, "ifname": self._ifname_of(spec.label)}
                           for spec in self.config.bond.slaves],
            "last_failover": last[0].to_dict() if last else None,
            "last_check": check[0].to_dict() if check else None,
            "warnings": bond_warnings(self.state, len(self.config.bond.slaves)) if self.state else [],
            "faults": self.faults.snapshot(),
            # the standby's role and the time on it; None without one configured (#22)
            "standby": {"label": self.config.bond.standby.label, "ifname": self.standby_ifname(),
                        "role": "standby", **self.standby.status()} if self.config.bond.standby else None,
            "vfs_not_returned": self.standby.not_returned(),  # with a standby or without: the VFs a migration kept
        }
