"""PF resets seen from inside the VM: a VF's carrier drops while its driver says the PF is resetting.

`PfResetTracker` is pure (observations with their times in, events out): a carrier loss becomes a
`pf_reset` once a line of the VF's driver about its PF ("PF still resetting", iavf's "Reset warning
received from the PF", or its "Link is Down") is seen during the outage or shortly before it; when
carrier returns, `recovered` carries the outage measured between the two netlink messages. A VF that
stays without carrier `bounce_after` seconds after a PF reset is bounced (link down/up, which makes
its driver reset and ask the PF again) once per outage.

A VF's link is the PF's: igbvf says only "Link is Down" when its PF is reset (seen in the lab on
real igbvf VFs), and from inside a VM a PF reset, the PF's link and the switch behind the host all
look the same. A carrier loss with no such line (a veth, a VF removed) is not a PF reset.

`PfResetMonitor` runs the tracker in the event loop: it publishes the events, keeps one timer for
the next bounce, and bounces through an injected coroutine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vfbond.shared.events import Event, EventType
from vfbond.shared.status import Outage
from vfbond.watch.kmsg_rules import KernelObservation, Kind

log = logging.getLogger("vfbond")

RESET_KINDS = (Kind.PF_RESETTING, Kind.PF_NOT_READY)
PF_SIDE_KINDS = (*RESET_KINDS, Kind.LINK_DOWN)  # the VF driver speaking of its PF's side
SIGNATURE_WINDOW = 15.0  # a reset line this long before the carrier loss still explains it


@dataclass
class _Outage:
    down_at: float  # monotonic time the carrier loss was received
    pf_reset: bool = False  # pf_reset reported
    bounced: bool = False


class PfResetTracker:
    def __init__(self, bond: str, bounce_after: float, window: float = SIGNATURE_WINDOW) -> None:
        self.bond = bond
        self.bounce_after = bounce_after  # 0: never bounce
        self.window = window
        self._outages: dict[str, _Outage] = {}  # slave -> its carrier outage
        self._reset_seen: dict[str, tuple[float, Kind]] = {}  # slave -> its driver's last PF-side line

    def carrier(self, slave: str, up: bool, at: float) -> list[Event]:
        outage = self._outages.get(slave)
        if not up:
            if outage is None:
                self._outages[slave] = outage = _Outage(at)
                seen = self._reset_seen.get(slave)
                if seen is not None and at - seen[0] <= self.window:
                    return [self._pf_reset(slave, outage, seen[1], "before")]
            return []
        if outage is None:
            return []
        del self._outages[slave]
        if not outage.pf_reset:
            return []  # a plain carrier blip: the link events already tell it
        outage_ms = round((at - outage.down_at) * 1000)
        after = " after vfbondd bounced it" if outage.bounced else ""
        return [Event(EventType.RECOVERED, self.bond, slave=slave,
                      reason=f"carrier back {outage_ms / 1000:.1f}s after the PF reset{after}",
                      details={"outage_ms": outage_ms, "bounced": outage.bounced})]

    def gone(self, slave: str) -> None:
        """The VF was removed: whatever comes back is a new device, not the end of this outage."""
        self._outages.pop(slave, None)
        self._reset_seen.pop(slave, None)

    def kernel(self, obs: KernelObservation) -> list[Event]:
        if obs.kind not in PF_SIDE_KINDS or obs.slave is None:
            return []
        self._reset_seen[obs.slave] = (obs.at, obs.kind)
        outage = self._outages.get(obs.slave)
        if outage is None or outage.pf_reset:
            return []
        return [self._pf_reset(obs.slave, outage, obs.kind, "during")]

    def _pf_reset(self, slave: str, outage: _Outage, kind: Kind, when: str) -> Event:
        outage.pf_reset = True
        said = "its PF is resetting" if kind in RESET_KINDS else "its link is down at the PF"
        return Event(EventType.PF_RESET, self.bond, slave=slave,
                     reason=f"carrier lost: the VF driver said {said} ({when} the loss): a PF reset, the PF's "
                            "link or the switch behind the host; check the PF on the host; the VF recovers by "
                            "itself once the PF is up",
                     details={"down_at": outage.down_at, "driver_said": kind.value})

    def outages(self, now: float) -> dict[str, Outage]:
        """The VFs without carrier now, for status."""
        return {slave: {"down_s": round(now - o.down_at, 1), "pf_reset": o.pf_reset, "bounced": o.bounced}
                for slave, o in self._outages.items()}

    def next_deadline(self) -> float | None:
        """Monotonic time of the next bounce that may fall due."""
        if not self.bounce_after:
            return None
        return min((o.down_at + self.bounce_after for o in self._outages.values() if o.pf_reset and not o.bounced),
                   default=None)

    def due(self, now: float) -> list[str]:
        """Slaves to bounce now; each outage is bounced at most once."""
        if not self.bounce_after:
            return []
        found = [s for s, o in self._outages.items()
                 if o.pf_reset and not o.bounced and now - o.down_at >= self.bounce_after]
        for slave in found:
            self._outages[slave].bounced = True
        return found

    def bounce_event(self, slave: str, error: str | None) -> Event:
        what = f"no carrier {self.bounce_after:g}s after the PF reset"
        reason = (f"{what}: set {slave} down and up once so its driver resets and asks the PF again"
                  if error is None else f"{what}; bouncing {slave} failed: {error}")
        return Event(EventType.RECOVERY_ATTEMPT, self.bond, slave=slave, reason=reason,
                     details={"after_s": self.bounce_after, "error": error})


Bounce = Callable[[str], Awaitable[None]]


class PfResetMonitor:
    """The tracker in the event loop: publishes its events and bounces on its one timer."""

    def __init__(self, tracker: PfResetTracker, emit: Callable[[Event], None], bounce: Bounce) -> None:
        self.tracker = tracker
        self._emit = emit
        self._bounce = bounce
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def carrier(self, slave: str, up: bool, at: float) -> None:
        self._publish(self.tracker.carrier(slave, up, at))

    def gone(self, slave: str) -> None:
        self.tracker.gone(slave)
        self._arm()

    def kernel(self, obs: KernelObservation) -> None:
        self._publish(self.tracker.kernel(obs))

    def _publish(self, events: list[Event]) -> None:
        for event in events:
            self._emit(event)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.tracker.next_deadline()
        if deadline is not None:
            # loop.time() is time.monotonic(), the clock the netlink and kmsg stamps use
            self._timer = asyncio.get_running_loop().call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        for slave in self.tracker.due(loop.time()):
            task = loop.create_task(self._attempt(slave))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._arm()

    async def _attempt(self, slave: str) -> None:
        error = None
        try:
            await self._bounce(slave)
        except Exception as exc:  # reported as the event; the supervision goes on
            error = f"{type(exc).__name__}: {exc}"
            log.warning("bouncing %s after a PF reset failed: %s", slave, error)
        self._emit(self.tracker.bounce_event(slave, error))

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
