"""After every move of the active slave: prove the gateway answers through the new VF, and count
the peer notifications (gratuitous ARP, unsolicited NA) that left it.

A switch the kernel accepted proves nothing about the path behind the new VF. One ARP (IPv4) or
NS (IPv6) out of that VF does, and its answer says when traffic flowed again. Peers, the
gateway first, keep sending to the old VF's MAC until told; the count says whether they were.

This runs after the switch, as a task of its own: the switch never waits for it, and a failure in
it is counted as a fault and leaves the supervision running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from vfbond.config import Config
from vfbond.judge.health import normalize_target
from vfbond.kernel.bond_state import BondState
from vfbond.shared.events import Event, EventType
from vfbond.shared.faults import Faults
from vfbond.watch import probes
from vfbond.watch.announcements import AnnouncementCounter

log = logging.getLogger(__name__)

TRIES = 3  # one probe proves it; two more keep one lost frame from raising a false alert
TIMEOUT = 1.0  # seconds per probe
# After the last kernel notification is due (or vfbondd's own announcement was started): time for
# it to leave on a loaded VM.
MARGIN = 2.0


def verify_target(config: Config) -> str | None:
    """Who must answer: the first probe target, else the IPv4 gateway, else the IPv6 one."""
    for target in (*config.probes.targets, config.bond.ipv4.gateway, config.bond.ipv6.gateway):
        if target:
            return normalize_target(target)
    return None


def notify_window(state: BondState, margin: float) -> float:
    """Seconds from the switch until the notifications have left: the kernel sends num_peer_notif
    of them, one per miimon tick (peer_notif_delay is left at 0). The first goes at the switch, unless
    the new slave's link change is still pending in linkwatch (bond_should_notify_peers): then at the
    next tick, and the last one a tick later than counted before (the lab saw 2 of 3 GARPs counted)."""
    return state.num_peer_notif * state.miimon / 1000 + margin


class FailoverCheck:
    """Keeps an announcement counter on each backup, and checks each move of the active slave."""

    def __init__(self, emit: Callable[[Event], None], faults: Faults, *, tries: int = TRIES,
                 timeout: float = TIMEOUT, margin: float = MARGIN) -> None:
        self.emit = emit
        self.faults = faults
        self.tries, self.timeout, self.margin = tries, timeout, margin
        self._counters: dict[str, AnnouncementCounter] = {}  # backup's ifname -> its counter
        self._failing: set[str] = set()  # backups whose counter would not open: reported once
        self._tasks: set[asyncio.Task[None]] = set()
        self._counting: set[AnnouncementCounter] = set()  # the counters of checks under way

    def on_read(self, state: BondState | None, moved: Event | None, config: Config, since: float) -> None:
        """After each read of the bond: check `moved` (a failover or failback seen by the read that
        began at `since`, time.monotonic()), then keep a counter open on every backup."""
        if moved is not None and state is not None and moved.new_active:
            for earlier in self._counting:  # a move ends the window of the checks before it: what leaves
                earlier.close()             # the VFs now is this move's notifications
            self._counting.clear()
            counter = self._counters.pop(moved.new_active, None)
            if counter is not None:
                self._counting.add(counter)
            task = asyncio.create_task(self._contained(moved, state, config, counter, since))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._arm(state)

    def _arm(self, state: BondState | None) -> None:
        backups = {s.name for s in state.slaves if s.name != state.active_slave} if state else set()
        for name in self._counters.keys() - backups:
            self._counters.pop(name).close()
        self._failing &= backups
        for name in sorted(backups - self._counters.keys()):
            try:
                self._counters[name] = AnnouncementCounter(name)
            except OSError as exc:
                # A VF gone meanwhile is no fault; EPERM is, once: every read retries it.
                if exc.errno not in probes.GONE and name not in self._failing:
                    self.faults.record(f"announcement counter on {name}", exc)
                self._failing.add(name)
            else:
                self._failing.discard(name)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for counter in self._counters.values():
            counter.close()
        self._counters.clear()

    async def _contained(self, moved: Event, state: BondState, config: Config,
                         counter: AnnouncementCounter | None, since: float) -> None:
        try:
            with self.faults.contained("failover check"):
                await self._check(moved, state, config, counter, since)
        finally:
            if counter is not None:
                counter.close()

    async def _check(self, moved: Event, state: BondState, config: Config,
                     counter: AnnouncementCounter | None, since: float) -> None:
        new = moved.new_active
        assert new is not None
        target = verify_target(config)
        # The move this check is of: status pairs them by it.
        details: dict[str, object] = {"target": target, "move_time": moved.time}
        verified: bool | None = None  # None: nothing to ask
        problem = ""
        if target is not None:
            verified = False
            for sent in range(1, self.tries + 1):
                details["probes_sent"] = sent
                try:
                    rtt = await probes.ask(new, target, config.bond.ipv4.first_ip, self.timeout)
                except OSError as exc:
                    problem = f"cannot probe out of {new}: {exc.strerror or exc}"
                    break
                if rtt is not None:
                    verified = True
                    details["reply_ms"] = round((time.monotonic() - since) * 1000, 1)
                    details["rtt_ms"] = round(rtt * 1000, 1)
                    break
            else:
                problem = f"no reply from {target} out of {new} to {self.tries} probes ({self.timeout:g} s each)"
        await asyncio.sleep(max(0.0, since + notify_window(state, self.margin) - time.monotonic()))
        if counter is not None:
            if counter not in self._counting:
                details["cut_short_by_next_move"] = True
            self._counting.discard(counter)
            counter.close()
            details.update(garp=counter.garp, na=counter.na, peer_notifications=counter.total)
        self._report(moved, state, verified, problem, details)

    def _report(self, moved: Event, state: BondState, verified: bool | None, problem: str,
                details: dict[str, object]) -> None:
        new, counted = moved.new_active, details.get("peer_notifications")

        def event(kind: EventType, reason: str) -> Event:
            return Event(kind, state.name, slave=new, old_active=moved.old_active, new_active=new,
                         reason=reason, details=details)

        told = "peers not counted" if counted is None else \
            f"{counted} peer notifications ({details['garp']} gratuitous ARP, {details['na']} unsolicited NA)"
        if verified:
            self.emit(event(EventType.FAILOVER_VERIFIED, f"{details['target']} answers through {new} "
                                                         f"{details['reply_ms']} ms after the switch; {told}"))
        elif verified is False:
            self.emit(event(EventType.FAILOVER_UNVERIFIED, "the backup took over but the gateway does not "
                                                           f"answer through it: {problem}; {told}"))
        if counted == 0 and state.addresses:
            self.emit(event(EventType.PEERS_NOT_NOTIFIED, f"no gratuitous ARP or unsolicited NA left {new} after "
                            "the switch: peers keep sending to the old MAC until their caches expire "
                            f"(num_peer_notif={state.num_peer_notif})"))
