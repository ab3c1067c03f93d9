"""The one owner of what is running: desired (the running config) against observed (the kernel).

Kubernetes controllers and NetworkManager's device state machine have this shape: one loop reads
the desired and the observed state, converges the difference, and is the only writer of the
bond's configuration. Everything else only asks it to run: the supervisor when a reading of the
bond looks drifted (judge/drift.py), a configured VF showing up, a slow timer, a resume. A reload
is "desired changes": it takes its turn here, behind any apply under way, one at a time.

A pass is configure/apply.py's apply_and_verify: a diff first, and changes only when there are any; so a
pass on a bond that matches costs a read and changes nothing. Until the first pass holds (the
start), a pass retries with backoff and says what it waits for; after that, a pass that finds a
configured VF missing ends quietly (the supervisor has reported the VF) and the next request,
the VF's return or the timer, runs the next.

Maintenance (`bondctl pause`): no pass runs while paused; drift seen meanwhile is kept for status
and repaired by the pass that `resume` (or the pause's expiry) asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from vfbond.bond_model import SlaveNotFound
from vfbond.config import Config
from vfbond.configure.applier import Applier
from vfbond.configure.apply import Outcome
from vfbond.shared.events import Event, EventType
from vfbond.shared.status import ReconcileStatus, Repair
from vfbond.supervise.pause import Pause, PauseFile

log = logging.getLogger("vfbond")

# The slow timer: drift that raised no event (a profile or ifcfg file edited by hand) is found
# this late at most. A pass on a bond that matches is one read; the events do the fast work.
RECONCILE_SECONDS = 60.0
# A missing VF came back: the supervisor's re-enslave (NetworkManager's grace, udev's settling) goes
# first; the pass after it finds what is left.
AFTER_RETURN_S = 10.0


class Reconciler:
    def __init__(self, applier: Applier, emit: Callable[[Event], None], pauses: PauseFile,
                 on_applied: Callable[[Applier], None] = lambda _c: None,
                 period: float = RECONCILE_SECONDS) -> None:
        self.applier = applier  # its config is the desired state
        self.emit = emit
        self.pauses = pauses
        self.on_applied = on_applied  # a pass or a reload made the kernel match (backend known now)
        self.period = period
        self.pause: Pause | None = pauses.load()
        self.established = False  # a pass has held since start: later passes repair drift
        self.repairs = 0  # passes that found drift and converged it
        self.last_repair: Repair | None = None
        self.drift_while_paused: str | None = None
        self.missing: str | None = None  # the VF the last repair pass could not find: its return runs the next
        self._after_return: asyncio.TimerHandle | None = None
        self._incoming: Applier | None = None  # a reload's applier while it applies
        self._why: list[str] = []
        self._wake = asyncio.Event()
        self._turn = asyncio.Lock()  # a pass or a reload: one writer at a time
        self._pass: asyncio.Task[None] | None = None
        self._preempting = 0

    @property
    def config(self) -> Config:
        return self.applier.config

    @property
    def applying(self) -> bool:
        """Changes to the bond are under way (a pass's or a reload's): the supervisor must not
        enslave or select meanwhile, except the armed switch off a dead active VF."""
        return self.applier.applying or (self._incoming is not None and self._incoming.applying)

    def request(self, why: str) -> None:
        """Ask for a pass: something looks drifted, a VF appeared, the operator resumed."""
        if why not in self._why:
            self._why.append(why)
        self._wake.set()
        if self.pause is None:
            self.applier.kick()  # a pass waiting out its backoff tries again now

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Apply until it holds, then keep it so: a pass on each request and every `period`."""
        if self.pause is not None:
            self._say_paused(self.pause, "still paused from before vfbondd started")
            self.applier.tried.set()  # nothing to wait for: READY goes out now
        else:
            self.request("start")
        try:
            while True:
                await self._wait()
                if self.pause is not None:
                    continue
                async with self._turn:
                    if self._preempting:
                        continue  # a reload is next in line: its pass comes after it
                    self._pass = asyncio.create_task(self._one_pass(), name="reconcile pass")
                    await asyncio.wait([self._pass])  # a reload or a pause may cancel the pass, not the loop
                    self._pass = None
        finally:
            if self._pass is not None:
                self._pass.cancel()

    async def _wait(self) -> None:
        timeout = self.period
        if self.pause is not None and self.pause.until is not None:
            timeout = min(timeout, max(0.0, self.pause.until - time.time()))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        if self.pause is not None and self.pause.expired(time.time()):
            self.resume("the pause expired")
        self._wake.clear()  # what woke us is in _why now: one pass answers it all
        if not self._why:
            self._why.append("periodic check")

    async def _one_pass(self) -> None:
        why, self._why = "; ".join(self._why), []
        applier = self.applier
        if not self.established:
            self._applied(applier, await applier.until_applied())
            self.established = True
            return
        attempts = applier.attempts
        try:
            outcome = await applier.until_applied(give_up=SlaveNotFound)
        except SlaveNotFound as exc:
            self.missing = exc.wanted
            log.info("reconcile (%s): waiting for %s; the next pass runs when it shows up", why, exc.wanted)
            return
        self.missing = None
        if outcome.changes:
            self._repaired(why, applier, outcome)
        if outcome.changes or applier.attempts - attempts > 1:
            # Only a pass that changed the bond, or said it was waiting, has news: the periodic pass
            # on a matching bond must not read the bond again and re-send STATUS= each minute.
            self.on_applied(applier)

    def _repaired(self, why: str, applier: Applier, outcome: Outcome) -> None:
        self.repairs += 1
        drift = [str(c) for c in outcome.changes]
        self.last_repair = {"time": time.time(), "why": why, "drift": drift}
        assert applier.backend is not None
        self.emit(Event(EventType.CONVERGED, self.config.bond.name, reason=(
            f"drift ({why}): {'; '.join(drift)}; the {applier.backend.name} backend put the config back"),
            details={"why": why, "drift": drift}))

    def _applied(self, applier: Applier, outcome: Outcome) -> None:
        """The start's apply or a reload's held: say what it changed, if anything."""
        assert applier.backend is not None
        if outcome.changes:
            self.emit(Event(EventType.DAEMON, applier.config.bond.name, reason=f"{applier.backend.name} backend "
                            "applied: " + "; ".join(str(c) for c in outcome.changes)))
        self.on_applied(applier)

    # --- reloads --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """A reload's turn: the pass under way stops (its config is about to be replaced, or
        re-asserted after), a second reload waits for this one. Afterwards a pass verifies the
        winner, or puts the running config back after a refused reload."""
        self._preempting += 1
        try:
            if self._pass is not None:
                self._pass.cancel()
            async with self._turn:
                yield
        finally:
            self._preempting -= 1
            self.request("after a reload")

    async def take(self, incoming: Applier, adopt: Callable[[Config], None]) -> Outcome:
        """Make `incoming`'s config the desired state (inside `turn()`). `adopt` hands a config's
        policy to the supervisor: the new one the moment the apply starts changing the kernel (its
        moves are then judged as the new config means them), the running one back if it fails."""
        running = self.config
        adopted = False

        def changing() -> None:
            nonlocal adopted
            adopted = True
            adopt(incoming.config)

        self._incoming = incoming
        incoming.on_changing = changing
        try:
            outcome = await incoming.apply()
        except BaseException:
            if adopted:
                adopt(running)
            raise
        finally:
            incoming.on_changing = None
            self._incoming = None
        self.applier, self.established = incoming, True
        if not adopted:
            adopt(incoming.config)
        self._applied(incoming, outcome)
        return outcome

    # --- maintenance ----------------------------------------------------------------------------

    def pause_for(self, pause: Pause) -> None:
        self.pause = pause
        self.pauses.save(pause)
        if self._pass is not None:
            self._pass.cancel()  # no convergence while paused, not even the rest of this pass
        self._say_paused(pause, "paused by the operator")
        self._wake.set()  # the loop's timer now runs to the expiry

    def resume(self, why: str) -> bool:
        """End the pause (False: there was none) and run a pass at once."""
        if self.pause is None:
            return False
        paused, self.pause = self.pause, None
        self.pauses.save(None)
        drift, self.drift_while_paused = self.drift_while_paused, None
        took = time.time() - paused.since
        self.emit(Event(EventType.RESUMED, self.config.bond.name,
                        reason=f"{why}; paused {took:.0f} s ({paused.reason})"
                               + (f"; drift seen meanwhile: {drift}" if drift else ""),
                        details={"paused_s": round(took, 1)}))
        self.request(why)
        return True

    def vf_seen(self) -> None:
        """A configured VF appeared or changed (every carrier flap says so: only act if it matters)."""
        if self.missing is not None and self._after_return is None:
            # The supervisor re-enslaves a returning VF itself, and says so: the pass comes after it,
            # for what that leaves (the bond gone meanwhile), instead of racing it for the VF.
            self._after_return = asyncio.get_running_loop().call_later(
                AFTER_RETURN_S, self._returned, f"a configured VF appeared ({self.missing} was missing)")
        elif not self.established:
            self.applier.kick()  # the start's apply waits out its backoff: try now

    def _returned(self, why: str) -> None:
        self._after_return = None
        self.request(why)

    def note_drift(self, what: str) -> None:
        """The supervisor saw the bond drift: repair it, or keep it for status while paused."""
        if self.pause is not None:
            self.drift_while_paused = what
            return
        self.request(what)

    def _say_paused(self, pause: Pause, how: str) -> None:
        until = f" until {time.strftime('%H:%M:%S', time.localtime(pause.until))}" if pause.until else \
            " until `bondctl resume`"
        self.emit(Event(EventType.PAUSED, self.config.bond.name, reason=f"{how}: {pause.reason}; vfbondd does not "
                        f"converge the bond{until}, and still reports and fails over", details=dict(pause.to_dict())))

    def status(self) -> ReconcileStatus:
        return {"paused": self.pause.to_dict() if self.pause else None,
                "drift_while_paused": self.drift_while_paused, "waiting_for": self.missing,
                "repairs": self.repairs, "last_repair": self.last_repair,
                "applying": self.applying}
