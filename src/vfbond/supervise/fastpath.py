"""The fast failover: a carrier loss on the active slave acted on the moment it is seen, not at the
kernel's next miimon poll.

Three ways in, fastest first: the link watcher's raw datagrams (`tap`: the armed switch goes out
from the reader callback, see kernel/fastswitch.py), the VF driver's "Link is Down" line
(`carrier_lost`), and the decoded link event (`on_link`), which takes the locked path through the
executor when the armed switch did not fire.

The supervisor owns the fast path, and the dependency points that way: what a carrier loss calls
for is a decision (`decide_carrier_loss`: verdicts, primary, settling slaves), which stays with the
supervisor, and the supervisor is the one that knows when to re-arm (after each read of the bond,
each evaluation, a new config). The fast path only acts on those decisions, quickly. It sees its
owner through the narrow `Decider` protocol below, so it imports nothing of supervisor.py and a
test can drive it with a stand-in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from pyroute2.netlink.exceptions import NetlinkError

from vfbond.config import Config
from vfbond.judge import policy
from vfbond.judge.carriers import Carriers
from vfbond.kernel import actions as kernel
from vfbond.kernel.bond_state import BondState, SlaveState
from vfbond.kernel.fastswitch import FastSwitch, Plan, Switched
from vfbond.shared.faults import Faults
from vfbond.supervise.executor import Executor
from vfbond.watch.links import LinkEvent

log = logging.getLogger("vfbond")
# A switch the kernel took longer than this to make is worth a line: on igbvf, bonding flushes the old
# VF's filters through the mailbox of a PF that is resetting, under RTNL, for seconds.
SLOW_SWITCH = 0.1


class Decider(Protocol):
    """What the fast path reads of the supervisor that owns it."""

    config: Config
    executor: Executor
    carriers: Carriers
    faults: Faults
    applying: Callable[[], bool]  # True while the backend applies the config (it enslaves the VFs then)

    @property
    def bond(self) -> str: ...

    @property
    def state(self) -> BondState | None: ...

    def decide_carrier_loss(self, active: str) -> policy.Decision: ...

    async def refresh(self, since: float | None = None) -> None: ...

    async def evaluate(self) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None: ...


class FastPath:
    def __init__(self, sup: Decider, switch: FastSwitch | None) -> None:
        self.sup = sup
        self.switch = switch  # the pre-built request the link watcher fires; None: the locked path only
        # The armed switch last sent, until the next read of the bond says what became of it: that read
        # may be anyone's (a link event's, the reconciler's), queued ahead of the switch's own read-back.
        self._sent: Switched | None = None

    def tap(self, data: bytes, at: float) -> Switched | None:
        """The link watcher's raw datagrams, as they arrive: the armed switch fires from here.

        Not while an apply runs (the backend is enslaving: its carrier changes are its own), nor while
        an action holds the executor's lock: the MAC-lock probe may have a trial MAC on the backup, which
        fail_over_mac=active would take for the bond. The event then takes the locked path. A read
        holding the lock is overtaken: what that read shows of the move, `explain` sorts out.
        """
        if self.switch is None or not self._may_fire():
            return None
        with self.sup.faults.contained("fast failover"):
            return self._sending(self.switch.on_datagram(data, at))
        return None  # a fault was contained and counted: the event takes the locked path

    def _may_fire(self) -> bool:
        executor = self.sup.executor
        return not self.sup.applying() and (not executor.lock.locked() or executor.reading)

    async def switched(self, sw: Switched) -> None:
        """The armed switch went out: once the kernel answered it (off the loop: seconds on an igbvf PF
        reset), read the bond back; `explain` gives the move the decision's reason."""
        answer = await asyncio.wrap_future(sw.answer)
        if answer.error:
            log.warning("fast failover to %s refused by the kernel (%s, %s); deciding again",
                        sw.plan.target_name, os.strerror(answer.error) if answer.error > 0 else "no answer",
                        self._took(sw))
            await self.sup.refresh()
            return
        if answer.answered - answer.sent > SLOW_SWITCH:
            log.info("the kernel took %.0f ms to switch %s to %s", (answer.answered - answer.sent) * 1000,
                     self.sup.bond, sw.plan.target_name)
        self._sent = self._sent or sw  # a read queued earlier may have shown the move already (explain)
        await self.sup.executor.refresh()
        await self.sup.evaluate()

    def explain(self, prev: BondState | None, cur: BondState | None) -> str | None:
        """Why the active slave moved between two readings, when the armed switch moved it. A read that
        began after the send waited for the kernel's answer to it (Executor.quiet): it shows the switch
        done, or refused, and the send is forgotten either way. A read the switch overtook may show
        either; if it does not show the move, the next read will."""
        sw = self._sent
        if sw is None:
            return None
        moved = prev is not None and cur is not None and prev.active_slave != cur.active_slave \
            and cur.active_slave == sw.plan.target_name
        if moved or self.sup.executor.read_at > sw.at:
            self._sent = None
        return f"{sw.plan.reason} (event-driven, {self._took(sw)})" if moved else None

    def _sending(self, sw: Switched | None) -> Switched | None:
        if sw is not None:
            self._sent = sw
        return sw

    @staticmethod
    def _took(sw: Switched) -> str:
        """From the loss seen to the request sent: on igbvf the kernel holds the request ~2 s (the PF's
        mailbox), and vfbondd acted when it sent it."""
        answer = sw.answer.result() if sw.answer.done() else None
        return f"{(answer.sent - sw.at) * 1000:.1f} ms after {sw.seen}" if answer else f"after {sw.seen}"

    def carrier_lost(self, name: str, at: float, line: str) -> None:
        """The VF driver's kernel line says it is dropping carrier. A real NIC's carrier-off reaches
        netlink through linkwatch, which sends it up to a second late when another link changed
        just before (a veth's is sent at once); the line comes as the driver acts."""
        if not self.acts_on(name) or at < self.sup.executor.read_at:
            return
        self.sup.carriers.note(name, False, at)
        seen = f"the VF driver's '{line}'"
        fast = self.switch
        if fast is not None and fast.plan is not None and fast.plan.active_name == name and self._may_fire() \
                and (sw := self._sending(fast.fire(at, seen))) is not None:
            self.sup.spawn(self.switched(sw), "fast failover read-back")
        else:
            self.sup.spawn(self.fail_over(name, at, seen), "fast failover")

    def acts_on(self, name: str) -> bool:
        """A carrier loss on `name` is vfbondd's to act on: it is the active slave and failover.fast is on."""
        state = self.sup.state
        return state is not None and name == state.active_slave and self.sup.config.failover.fast

    async def on_link(self, ev: LinkEvent, slave: SlaveState | None) -> None:
        """A decoded link event (`slave`: its interface as the last read saw it). A carrier loss on the
        active slave that the armed switch did not take goes through the locked path now."""
        if ev.gone or ev.carrier or not self.acts_on(ev.name):
            return
        # An event received before the last read is already in `state`: act on it only if that read
        # agrees (the carrier=0 of an enslave is back to 1 by then).
        if ev.at < self.sup.executor.read_at and (slave is None or slave.link.carrier):
            return
        if kernel.has_carrier(ev.name):
            return  # stale: queued while a backend built the bond
        if self.sup.config.bond.downdelay:
            self.sup.spawn(self.fail_over(ev.name, ev.at), "fast failover")  # waits out downdelay
        else:
            await self.fail_over(ev.name, ev.at)

    async def fail_over(self, name: str, at: float, seen: str = "the event") -> None:
        """The locked path: act on the carrier loss now rather than on the kernel's next miimon poll."""
        sup = self.sup
        if sup.config.bond.downdelay:
            await asyncio.sleep(sup.config.bond.downdelay / 1000)
            if sup.carriers.is_up(name):
                return  # back within downdelay: the kernel would not fail over either
        if sup.state is None or sup.state.active_slave != name:
            return
        decision = sup.decide_carrier_loss(name)
        if decision.switch_to is None:
            return
        try:
            await sup.executor.switch(decision.switch_to, f"{decision.reason} (event-driven, "
                                      f"{(time.monotonic() - at) * 1000:.1f} ms after {seen})")
        except NetlinkError as exc:
            log.warning("fast failover to %s refused by the kernel (%s); miimon will act", decision.switch_to, exc)

    def arm(self) -> None:
        """Decide now what a carrier loss on the active slave would call for, so the link watcher can
        send it the moment that loss arrives. With downdelay the loss must be waited out first: the
        locked path does that."""
        if self.switch is None:
            return
        sup, plan = self.sup, None
        state = sup.state
        active = state.slave(state.active_slave) if state and state.active_slave else None
        if state is not None and active is not None and sup.config.failover.fast and not sup.config.bond.downdelay:
            decision = sup.decide_carrier_loss(active.name)
            target = state.slave(decision.switch_to) if decision.switch_to else None
            if target is not None:
                plan = Plan(state.link.index, active.link.index, active.name, target.link.index, target.name,
                            decision.reason)
        self.switch.arm(plan)
