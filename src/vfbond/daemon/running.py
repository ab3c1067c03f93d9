"""The running config and what it set running (wiring.RunningSet): kept applied by the reconciler,
and replaced by a reload whole or not at all.

The one owner of the config the daemon runs on. Every apply goes through its reconciler
(supervise/reconciler.py): the first one at start (retried until the VFs allow it), the repair of
any drift, a reload's (one at a time), and the pass after a reload that failed half-way. Whatever
runs on the config (the supervisor, the VF watch, the reporter's sinks) takes a new one from here,
and only after every piece of it was built.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from vfbond import config as config_mod
from vfbond.configure.applier import Applier, Gate
from vfbond.daemon import wiring
from vfbond.daemon.wiring import RunningSet
from vfbond.kernel.rtnl import Rtnl
from vfbond.report.reporter import Reporter
from vfbond.shared import exitcodes
from vfbond.shared.events import Event, EventType
from vfbond.shared.protocol import CommandError
from vfbond.shared.status import ApplyStatus
from vfbond.sinks import Dispatcher
from vfbond.supervise.pause import Pause, PauseFile, make_pause
from vfbond.supervise.probing import OnRtt
from vfbond.supervise.reconciler import Reconciler
from vfbond.supervise.supervisor import Supervisor
from vfbond.supervise.vfwatch import VfWatch

NM_REENSLAVE_GRACE = 3.0


class RunningConfig:
    def __init__(self, config: config_mod.Config, path: str, apply: bool, ipr: Rtnl, alerts: Dispatcher, *,
                 supervisor: Supervisor, vfwatch: VfWatch, reporter: Reporter,
                 notify: Callable[[str], None], gate: Gate | None = None, on_rtt: OnRtt | None = None,
                 quiet: Callable[[], Awaitable[None]] | None = None) -> None:
        self.path = path
        self.apply = apply  # False (--no-apply): supervise the bond as it is, never change it
        self.ipr = ipr
        self.supervisor = supervisor
        self.vfwatch = vfwatch
        self.reporter = reporter
        self.notify = notify  # systemd's STATUS=
        self.on_rtt = on_rtt
        self.current = RunningSet(config, alerts, None, Applier(config, ipr, on_waiting=self._waiting, gate=gate,
                                                                         quiet=quiet))
        self.reconciler = Reconciler(self.current.applier, supervisor.emit,
                                     PauseFile(Path(config.daemon.state_dir) / "pause.json"), on_applied=self._applied)
        self._reconciling: asyncio.Task[None] | None = None

    @property
    def config(self) -> config_mod.Config:
        return self.current.config

    @property
    def applying(self) -> bool:
        """An apply (a pass or a reload's) is changing the bond: it enslaves the VFs itself meanwhile."""
        return self.reconciler.applying

    @property
    def retrying(self) -> bool:
        """The start's apply has not held yet."""
        return self.apply and not self.reconciler.established

    def vf_seen(self) -> None:
        if self.apply:
            self.reconciler.vf_seen()

    def drifted(self, what: str) -> None:
        if self.apply:  # --no-apply: the bond is the operator's, drift included
            self.reconciler.note_drift(what)

    def pause(self, reason: str, seconds: float | None) -> Pause:
        if not self.apply:
            raise CommandError("vfbondd runs with --no-apply: it never converges the bond, there is nothing "
                               "to pause", exitcodes.REFUSED)
        pause = make_pause(reason, seconds)
        self.reconciler.pause_for(pause)
        return pause

    def resume(self) -> bool:
        return self.reconciler.resume("resumed by the operator")

    def status(self) -> ApplyStatus:
        applier = self.current.applier
        backend = (applier.backend_reason if applier.backend else "not chosen yet") if self.apply \
            else "none (--no-apply: supervising only)"
        return {"backend": backend, "waiting": applier.waiting,
                "backend_name": applier.backend.name if applier.backend else None,
                "backend_version": applier.backend.version if applier.backend else None,
                "apply_attempts": applier.attempts}

    def ready_status(self) -> str:
        """systemd's STATUS= when READY=1 goes out."""
        waiting = self.current.applier.waiting
        return waiting if waiting and self.retrying else f"supervising {self.config.bond.name}"

    # --- start and stop -------------------------------------------------------------------------

    def start_probing(self) -> None:
        self.current.probing = wiring.make_probing(self.config, self.supervisor.on_verdict, self.on_rtt)
        self.supervisor.use_probing(self.current.probing)

    async def start_applying(self, timeout: float) -> None:
        """Reconcile from now on, in the background; wait for the first attempt (`timeout` at most)."""
        applier = self.current.applier
        self._reconciling = asyncio.create_task(self.reconciler.run(), name="reconcile")
        tried = asyncio.create_task(applier.tried.wait())
        try:
            await asyncio.wait([tried, self._reconciling], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tried.cancel()

    async def stop_applying(self) -> None:
        if self._reconciling is not None:
            self._reconciling.cancel()
            await asyncio.gather(self._reconciling, return_exceptions=True)

    # What a reload swapped in is what is closed at the stop.

    async def close_alerts(self) -> None:
        await self.current.alerts.close()

    async def stop_probing(self) -> None:
        if self.current.probing is not None:
            await self.current.probing.stop()

    async def close_backend(self) -> None:
        await self.current.applier.close()

    # --- applying -------------------------------------------------------------------------------

    def _waiting(self, text: str) -> None:
        self.supervisor.emit(Event(EventType.WARNING, self.config.bond.name,
                                   reason=f"config not applied, retrying: {text}"))
        self.notify(f"STATUS={text}")

    def _applied(self, applier: Applier) -> None:
        """A pass or a reload made the kernel match (the reconciler said what changed)."""
        assert applier.backend is not None
        # NetworkManager re-attaches ports matched by MAC itself; give it the first chance.
        self.supervisor.reenslave_grace = NM_REENSLAVE_GRACE if applier.backend.name == "nm" else 0.0
        self.notify(f"STATUS=supervising {self.config.bond.name}")
        self.supervisor.refresh_soon()

    # --- reload ---------------------------------------------------------------------------------

    async def reload(self) -> dict[str, Any]:
        """All or nothing: the new config's sinks, probing and plan are built (and applied) beside
        the running ones, and swapped in only when every piece succeeded. Reloads take turns (SIGHUP
        and `bondctl reload` at once): the second waits for the first, then builds on what it left."""
        try:
            new = config_mod.load(self.path)
        except config_mod.ConfigError as exc:
            raise self._refuse(f"reload refused, config invalid: {exc.problems[0]}", exitcodes.USAGE,
                               problems=[str(p) for p in exc.problems]) from None
        async with self.reconciler.turn():  # the pass under way stops; a refused reload's is re-run after
            old = self.current
            try:
                running = await wiring.build_beside(new, old, self.ipr, self.supervisor.on_verdict, self._waiting,
                                                    check_plan=self.apply, on_rtt=self.on_rtt)
                if self.apply:
                    try:
                        await self.reconciler.take(running.applier, self.supervisor.set_config)
                    except BaseException:
                        await wiring.discard(running, old)
                        raise
            except Exception as exc:  # noqa: BLE001 - whatever failed, the running config stays (and holds)
                raise self._refuse(f"reload refused, {self.path} not taken, the running config kept: "
                                   f"{type(exc).__name__}: {exc}") from None
            await self._swap(running, old)
        restart = wiring.restart_needed(old.config, new)
        self.supervisor.emit(Event(EventType.DAEMON, new.bond.name, reason=f"config reloaded from {self.path}" + (
            f"; {', '.join(restart)} changed: takes effect after a restart of vfbondd" if restart else "")))
        await self.supervisor.refresh()
        return {"reloaded": self.path, "restart_needed": restart}

    def _refuse(self, reason: str, code: int = exitcodes.FAILED, **details: Any) -> CommandError:
        # Keep running on the old config: a bad reload must not take the supervision down.
        self.supervisor.emit(Event(EventType.WARNING, self.config.bond.name, reason=reason, details=details))
        return CommandError(reason, code)

    async def _swap(self, running: RunningSet, old: RunningSet) -> None:
        if running.alerts is not old.alerts:  # the last await before the reporter publishes to it
            await running.alerts.take_over(old.alerts)
        self.current = running
        self.supervisor.set_config(running.config)
        self.vfwatch.reconfigure(running.config)
        self.supervisor.use_probing(running.probing)
        self.reporter.publish_to(running.alerts.publish)
        await wiring.discard(old, running)
