"""The running config and what it set running (wiring.RunningSet): applied until it holds, and
replaced by a reload whole or not at all.

The one owner of the config the daemon runs on. Every apply starts here: the first one at start
(retried until the VFs allow it), a reload's, and the retries after a reload that failed half-way.
Whatever runs on the config (the supervisor, the VF watch, the reporter's sinks) takes a new one
from here, and only after every piece of it was built.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pyroute2 import AsyncIPRoute

from vfbond import config as config_mod
from vfbond.configure.apply import Outcome
from vfbond.configure.converger import Converger, Gate
from vfbond.daemon import wiring
from vfbond.daemon.wiring import RunningSet
from vfbond.report.reporter import Reporter
from vfbond.shared import exitcodes
from vfbond.shared.events import Event, EventType
from vfbond.shared.protocol import CommandError
from vfbond.sinks import Dispatcher
from vfbond.supervise.probing import OnRtt
from vfbond.supervise.supervisor import Supervisor
from vfbond.supervise.vfwatch import VfWatch

NM_REENSLAVE_GRACE = 3.0


class RunningConfig:
    def __init__(self, config: config_mod.Config, path: str, apply: bool, ipr: AsyncIPRoute, alerts: Dispatcher, *,
                 supervisor: Supervisor, vfwatch: VfWatch, reporter: Reporter,
                 notify: Callable[[str], None], gate: Gate | None = None, on_rtt: OnRtt | None = None) -> None:
        self.path = path
        self.apply = apply  # False (--no-apply): supervise the bond as it is, never change it
        self.ipr = ipr
        self.supervisor = supervisor
        self.vfwatch = vfwatch
        self.reporter = reporter
        self.notify = notify  # systemd's STATUS=
        self.on_rtt = on_rtt
        self.current = RunningSet(config, alerts, None, Converger(config, ipr, on_waiting=self._waiting, gate=gate))
        self._converging: asyncio.Task[None] | None = None  # applying until the config holds

    @property
    def config(self) -> config_mod.Config:
        return self.current.config

    @property
    def applying(self) -> bool:
        """An apply is changing the bond: it enslaves the VFs itself meanwhile."""
        return self.current.converger.applying

    @property
    def retrying(self) -> bool:
        return self._converging is not None and not self._converging.done()

    def kick(self) -> None:
        """A configured VF appeared or changed: an apply still retrying tries again now."""
        if self.retrying:
            self.current.converger.kick()

    def status(self) -> dict[str, Any]:
        converger = self.current.converger
        backend = (converger.backend_reason if converger.backend else "not chosen yet") if self.apply \
            else "none (--no-apply: supervising only)"
        return {"backend": backend, "waiting": converger.waiting,
                "backend_name": converger.backend.name if converger.backend else None,
                "backend_version": converger.backend and converger.backend.version,
                "apply_attempts": converger.attempts}

    def ready_status(self) -> str:
        """systemd's STATUS= when READY=1 goes out."""
        waiting = self.current.converger.waiting
        return waiting if waiting and self.retrying else f"supervising {self.config.bond.name}"

    # --- start and stop -------------------------------------------------------------------------

    def start_probing(self) -> None:
        self.current.probing = wiring.make_probing(self.config, self.supervisor.on_verdict, self.on_rtt)
        self.supervisor.use_probing(self.current.probing)

    async def start_applying(self, timeout: float) -> None:
        """Apply until the config holds, in the background; wait for the first attempt (`timeout` at most)."""
        converger = self.current.converger
        self._converging = asyncio.create_task(self._converge(converger), name="converge")
        tried = asyncio.create_task(converger.tried.wait())
        try:
            await asyncio.wait([tried], timeout=timeout)
        finally:
            tried.cancel()

    async def stop_applying(self) -> None:
        if self._converging is not None:
            self._converging.cancel()
            await asyncio.gather(self._converging, return_exceptions=True)

    # What a reload swapped in is what is closed at the stop.

    async def close_alerts(self) -> None:
        await self.current.alerts.close()

    async def stop_probing(self) -> None:
        if self.current.probing is not None:
            await self.current.probing.stop()

    async def close_backend(self) -> None:
        await self.current.converger.close()

    # --- applying -------------------------------------------------------------------------------

    def _waiting(self, text: str) -> None:
        self.supervisor.emit(Event(EventType.WARNING, self.config.bond.name,
                                   reason=f"config not applied, retrying: {text}"))
        self.notify(f"STATUS={text}")

    async def _converge(self, converger: Converger) -> None:
        """Apply the config until it holds; meanwhile the bond is supervised as it is."""
        self._applied(converger, await converger.until_applied())
        self.notify(f"STATUS=supervising {self.config.bond.name}")
        await self.supervisor.refresh()

    def _applied(self, converger: Converger, outcome: Outcome) -> None:
        assert converger.backend is not None
        if outcome.changes:
            self.supervisor.emit(Event(EventType.DAEMON, converger.config.bond.name,
                                       reason=f"{converger.backend.name} backend applied: "
                                              + "; ".join(str(c) for c in outcome.changes)))
        # NetworkManager re-attaches ports matched by MAC itself; give it the first chance.
        self.supervisor.reenslave_grace = NM_REENSLAVE_GRACE if converger.backend.name == "nm" else 0.0

    # --- reload ---------------------------------------------------------------------------------

    async def reload(self) -> dict[str, Any]:
        """All or nothing: the new config's sinks, probing and plan are built (and applied) beside
        the running ones, and swapped in only when every piece succeeded."""
        try:
            new = config_mod.load(self.path)
        except config_mod.ConfigError as exc:
            raise self._refuse(f"reload refused, config invalid: {exc.problems[0]}", exitcodes.USAGE,
                               problems=[str(p) for p in exc.problems]) from None
        old = self.current
        if self.retrying:  # one apply at a time (they share a socket): a first apply still retrying pauses
            await self.stop_applying()
        try:
            running = await wiring.build_beside(new, old, self.ipr, self.supervisor.on_verdict, self._waiting,
                                                check_plan=self.apply, on_rtt=self.on_rtt)
            if self.apply:
                try:
                    outcome = await running.converger.apply()
                except BaseException:
                    await wiring.discard(running, old)
                    raise
        except Exception as exc:  # noqa: BLE001 - whatever failed, the running config stays
            if self.apply:
                # ... and holds: the failed apply may have changed part of the bond before it failed
                # (a VF vanished under it), which the backend cannot always undo (netlink, ifcfg).
                # Nothing to do when it changed nothing; else retried until the VFs allow it.
                self._converging = asyncio.create_task(self._converge(old.converger), name="converge")
            raise self._refuse(f"reload refused, {self.path} not taken, the running config kept: "
                               f"{type(exc).__name__}: {exc}") from None
        if self.apply:
            self._applied(running.converger, outcome)
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
        self.current = running
        self.supervisor.set_config(running.config)
        self.vfwatch.reconfigure(running.config)
        self.supervisor.use_probing(running.probing)
        self.reporter.publish_to(running.alerts.publish)
        if running.alerts is not old.alerts:
            running.alerts.start()
        await wiring.discard(old, running)
