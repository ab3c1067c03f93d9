"""vfbondd's lifecycle: open everything in order, serve until stopped, close it all in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sdnotify
from pyroute2 import AsyncIPRoute

from vfbond import __version__
from vfbond import config as config_mod
from vfbond.configure import world as world_mod
from vfbond.configure.apply import Outcome
from vfbond.configure.converger import Converger
from vfbond.configure.world import World
from vfbond.ctl import exitcodes
from vfbond.ctl.control import CommandError, ControlServer
from vfbond.daemon.commands import Commands
from vfbond.judge.flap import FlapLimiter
from vfbond.kernel.fastswitch import FastSwitch
from vfbond.report.events import Event, EventType, History
from vfbond.report.reporter import Reporter
from vfbond.supervise.faults import Faults
from vfbond.supervise.supervisor import Supervisor
from vfbond.supervise.verify import FailoverCheck
from vfbond.supervise.vfwatch import VfWatch
from vfbond.watch.links import RCVBUF, LinkWatcher

if TYPE_CHECKING:
    from vfbond.daemon.testhooks import FaultHooks
    from vfbond.poll.exporter import Exporter

log = logging.getLogger("vfbond")

# A full re-read now and then, in case netlink dropped messages unnoticed. Failover never waits
# for it: carrier changes arrive as events, and a reported overrun (ENOBUFS) re-reads at once.
RESYNC_SECONDS = 60.0
FLAP_CHECK_SECONDS = 5.0  # a flap summary goes out at most this late after its window closes
NM_REENSLAVE_GRACE = 3.0
# READY=1 goes out after the first apply attempt, or after this long (systemd's default start
# timeout is 90 s, a NetworkManager apply can take longer); STATUS= then says what it waits for.
READY_WAIT = 45.0
STARTUP_SETTLE = 30.0  # VFs report link seconds after enslaving (igbvf: ~4 s); after this, say how it stands
WATCHER_RESTART = 1.0  # seconds before reopening a netlink socket that failed


class Daemon:
    def __init__(self, config: config_mod.Config, config_path: str, apply: bool = True) -> None:
        self.config_path = config_path
        self.apply = apply
        self.notifier = sdnotify.SystemdNotifier()
        self.stop = asyncio.Event()
        self.ipr = AsyncIPRoute()
        # Applies get their own netlink socket: the kernel refuses a second dump on a socket whose
        # dump is still running (EBUSY), and the supervisor reads the bond while an apply runs.
        self.apply_ipr = AsyncIPRoute()
        self.faults = Faults()
        self.hooks = _fault_hooks()
        self.history = History(Path(config.daemon.state_dir) / "events.jsonl", config.daemon.history)
        self.exporter = _exporter(config, self.status, self.faults)
        alerts = world_mod.make_alerts(config)
        self.reporter = Reporter(self.history, alerts.publish, FlapLimiter(config.alerts.flap_limit), self.faults,
                                 on_record=self.exporter.changed if self.exporter else None)
        self.supervisor = Supervisor(config, self.ipr, self.reporter, self.faults, on_vf_seen=self._vf_seen)
        self.check = self.supervisor.check = FailoverCheck(self.supervisor.emit, self.faults)
        self.world = World(config, alerts, None, Converger(config, self.apply_ipr, on_waiting=self._waiting,
                                                            gate=self.hooks.apply_gate if self.hooks else None))
        self.supervisor.applying = lambda: self.world.converger.applying
        # kernel messages, MAC lock, PF resets; a VF driver's "Link is Down" triggers the fast failover
        self.vfwatch = VfWatch(config, self.ipr, emit=self.reporter.emit, on_link_down=self.supervisor.carrier_lost,
                               lock=self.supervisor.executor.lock)
        # Kernel socket buffer for link events; settable to provoke overruns in the fault tests.
        self.watcher = LinkWatcher(rcvbuf=int(os.environ.get("VFBOND_NETLINK_RCVBUF") or RCVBUF),
                                   tap=self.supervisor.tap)
        self._converging: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []  # each one's failure stops the daemon
        self._started = False  # "started" was said: "stopped" will be
        # The link watch's way in: the supervisor, or (test hooks) a stand-in that can be told to fail.
        self._observe = self.hooks.observing(self.supervisor.observe) if self.hooks else self.supervisor.observe
        self.commands = Commands(self.status, self.history, self.reporter.followers, self.supervisor, self.reload)
        handlers = self.commands.handlers()
        if self.hooks is not None:
            handlers["test-fault"] = self.hooks.test_fault
        self.control = ControlServer(config.daemon.socket, handlers, group=config.daemon.socket_group,
                                     streams=self.commands.streams(), readers=Commands.READERS)

    @property
    def config(self) -> config_mod.Config:
        return self.world.config

    def emit(self, event: Event) -> None:
        self.supervisor.emit(event)

    @property
    def _on_rtt(self) -> Callable[[str, float], None] | None:
        return self.exporter.rtt.observe if self.exporter else None

    def status(self) -> dict[str, Any]:
        converger = self.world.converger
        backend = (converger.backend_reason if converger.backend else "not chosen yet") if self.apply \
            else "none (--no-apply: supervising only)"
        write_errors = getattr(self.history, "write_errors", None)
        return {"daemon": {"pid": os.getpid(), "version": __version__, "config": self.config_path,
                           "backend": backend, "waiting": converger.waiting,
                           "backend_name": converger.backend.name if converger.backend else None,
                           "backend_version": converger.backend and converger.backend.version,
                           "apply_attempts": converger.attempts,
                           "followers": {"connected": len(self.reporter.followers),
                                         "events_dropped": self.reporter.followers.dropped},
                           **({"history_write_errors": write_errors} if write_errors is not None else {})},
                **self.supervisor.status(), "alerts": self.world.alerts.stats(), "vf": self.vfwatch.status(),
                "counters": self.reporter.counters.to_dict()}

    def _vf_seen(self) -> None:
        if self._converging is not None and not self._converging.done():
            self.world.converger.kick()

    def _waiting(self, text: str) -> None:
        self.emit(Event(EventType.WARNING, self.config.bond.name, reason=f"config not applied, retrying: {text}"))
        self.notifier.notify(f"STATUS={text}")

    async def _converge(self, converger: Converger) -> None:
        """Apply the config until it holds; meanwhile the bond is supervised as it is."""
        self._applied(converger, await converger.until_applied())
        self.notifier.notify(f"STATUS=supervising {self.config.bond.name}")
        await self.supervisor.refresh()

    def _applied(self, converger: Converger, outcome: Outcome) -> None:
        assert converger.backend is not None
        if outcome.changes:
            self.emit(Event(EventType.DAEMON, converger.config.bond.name, reason=f"{converger.backend.name} backend "
                            "applied: " + "; ".join(str(c) for c in outcome.changes)))
        # NetworkManager re-attaches ports matched by MAC itself; give it the first chance.
        self.supervisor.reenslave_grace = NM_REENSLAVE_GRACE if converger.backend.name == "nm" else 0.0

    def _refuse(self, reason: str, code: int = exitcodes.FAILED, **details: Any) -> CommandError:
        # Keep running on the old config: a bad reload must not take the supervision down.
        self.emit(Event(EventType.WARNING, self.config.bond.name, reason=reason, details=details))
        return CommandError(reason, code)

    async def reload(self) -> dict[str, Any]:
        """All or nothing: the new config's sinks, probing and plan are built (and applied) beside
        the running ones, and swapped in only when every piece succeeded."""
        try:
            new = config_mod.load(self.config_path)
        except config_mod.ConfigError as exc:
            raise self._refuse(f"reload refused, config invalid: {exc.problems[0]}", exitcodes.USAGE,
                               problems=[str(p) for p in exc.problems]) from None
        old = self.world
        # One apply at a time (they share a socket): a first apply still retrying pauses meanwhile.
        retrying = self._converging is not None and not self._converging.done()
        if retrying:
            self._converging.cancel()  # type: ignore[union-attr]
            await asyncio.gather(self._converging, return_exceptions=True)  # type: ignore[arg-type]
        try:
            world = await world_mod.build(new, old, self.apply_ipr, self.supervisor.on_verdict, self._waiting,
                                          check_plan=self.apply, on_rtt=self._on_rtt)
            if self.apply:
                try:
                    outcome = await world.converger.apply()
                except BaseException:
                    await world_mod.discard(world, old)
                    raise
        except Exception as exc:  # noqa: BLE001 - whatever failed, the running config stays
            if self.apply:
                # ... and holds: the failed apply may have changed part of the bond before it failed
                # (a VF vanished under it), which the backend cannot always undo (netlink, ifcfg).
                # Nothing to do when it changed nothing; else retried until the VFs allow it.
                self._converging = asyncio.create_task(self._converge(old.converger), name="converge")
            raise self._refuse(f"reload refused, {self.config_path} not taken, the running config kept: "
                               f"{type(exc).__name__}: {exc}") from None
        if self.apply:
            self._applied(world.converger, outcome)
        await self._swap(world, old)
        restart = world_mod.restart_needed(old.config, new)
        self.emit(Event(EventType.DAEMON, new.bond.name, reason=f"config reloaded from {self.config_path}" + (
            f"; {', '.join(restart)} changed: takes effect after a restart of vfbondd" if restart else "")))
        await self.supervisor.refresh()
        return {"reloaded": self.config_path, "restart_needed": restart}

    async def _swap(self, world: World, old: World) -> None:
        self.world = world
        self.supervisor.set_config(world.config)
        self.vfwatch.reconfigure(world.config)
        self.supervisor.probing = world.probing
        self.reporter.publish = world.alerts.publish
        if world.alerts is not old.alerts:
            world.alerts.start()
        await world_mod.discard(old, world)

    async def _watch(self) -> None:
        while True:
            try:
                async for ob in self.watcher.events():
                    with self.faults.contained("link event handler"):
                        await self._observe(ob)
                    self.vfwatch.on_link(ob)
            except Exception as exc:  # noqa: BLE001 - the socket itself failed: reopen it
                self.faults.record("netlink link watcher", exc)
                self.watcher.close()
                await asyncio.sleep(WATCHER_RESTART)
                with self.faults.contained("netlink link watcher restart"):
                    await self.watcher.start()
                    await self.supervisor.refresh()

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            with self.faults.contained("resync"):
                await self.supervisor.refresh()

    async def _flap_summaries(self) -> None:
        while True:
            await asyncio.sleep(FLAP_CHECK_SECONDS)
            self.reporter.flush_flaps()

    def _startup_deadline(self) -> None:
        if self.supervisor.starting:
            self.supervisor.end_startup(waited=STARTUP_SETTLE)

    async def _watchdog(self, interval: float) -> None:
        while True:
            self.notifier.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT or a task fails. Every resource goes on one exit stack as it
        opens, so what is open is closed, in reverse, even when the start fails half-way."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload_quietly()))
        async with contextlib.AsyncExitStack() as stack:
            await self._open_intake(stack)
            self._start_tasks(stack)
            await self._first_apply(stack)
            await self._open_control(stack)
            self.notifier.notify(f"READY=1\nSTATUS={self._ready_status()}")
            code = await self._until_stopped(stack)
            self.notifier.notify("STOPPING=1")
        return code

    async def _open_intake(self, stack: contextlib.AsyncExitStack) -> None:
        """Alerts, probes, the fast-failover socket, the link watcher, the first read, kernel messages."""
        self.world.alerts.start()
        stack.push_async_callback(self._close_alerts)
        stack.callback(self.apply_ipr.close)
        stack.callback(self.ipr.close)
        await world_mod.prepare_announce(self.config)
        probing = world_mod.make_probing(self.config, self.supervisor.on_verdict, self._on_rtt)
        self.world.probing = self.supervisor.probing = probing
        stack.push_async_callback(self._stop_probing)
        with self.faults.contained("fast-failover socket"):  # without it, the locked path still fails over
            fast = FastSwitch()
            fast.open()
            self.supervisor.fastswitch = fast
            stack.callback(fast.close)
        stack.push_async_callback(self.check.close)
        # Subscribe before the first read, so no change falls between the two.
        await self.watcher.start()
        stack.callback(self.watcher.close)
        self.emit(Event(EventType.DAEMON, self.config.bond.name, reason=f"vfbondd {__version__} started"))
        self._started = True
        with self.faults.contained("first read of the bond"):
            await self.supervisor.refresh()
        stack.push_async_callback(self.vfwatch.close)
        with self.faults.contained("kernel message watch"):
            await self.vfwatch.start()

    def _start_tasks(self, stack: contextlib.AsyncExitStack) -> None:
        settle = asyncio.get_running_loop().call_later(STARTUP_SETTLE, self._startup_deadline)
        stack.callback(settle.cancel)
        self._task(stack, self._watch(), "watch")
        self._task(stack, self._resync(), "resync")
        self._task(stack, self._flap_summaries(), "flaps")
        watchdog_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        if watchdog_usec:
            self._task(stack, self._watchdog(watchdog_usec / 2e6), "watchdog")

    async def _first_apply(self, stack: contextlib.AsyncExitStack) -> None:
        """Start applying the config, and wait for the first attempt (at most READY_WAIT)."""
        stack.push_async_callback(self._close_backend)
        if not self.apply:
            return
        self._converging = asyncio.create_task(self._converge(self.world.converger), name="converge")
        stack.push_async_callback(self._stop_converging)
        tried = asyncio.create_task(self.world.converger.tried.wait())
        try:
            await asyncio.wait([tried], timeout=READY_WAIT)
        finally:
            tried.cancel()

    async def _open_control(self, stack: contextlib.AsyncExitStack) -> None:
        """The control socket and the metrics open once the first attempt is over, so `bondctl status`
        never shows a bond half-way through it."""
        await self.control.start()
        stack.push_async_callback(self.control.close)
        if self.exporter is not None:
            self.exporter.start()
            stack.push_async_callback(self.exporter.close)
            if self.exporter.path is not None:
                self._task(stack, self.exporter.run(self.exporter.path), "metrics")

    def _ready_status(self) -> str:
        waiting = self.world.converger.waiting
        applying = self._converging is not None and not self._converging.done()
        return waiting if waiting and applying else f"supervising {self.config.bond.name}"

    async def _until_stopped(self, stack: contextlib.AsyncExitStack) -> int:
        stopped = asyncio.create_task(self.stop.wait())
        stack.push_async_callback(_cancelled, stopped)
        done, _ = await asyncio.wait([stopped, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        code = exitcodes.OK
        for task in done:
            if task is not stopped and task.exception() is not None:
                log.error("%s task failed: %r", task.get_name(), task.exception())
                code = exitcodes.FAILED
        return code

    def _task(self, stack: contextlib.AsyncExitStack, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        stack.push_async_callback(_cancelled, task)
        self._tasks.append(task)

    # What a reload may have swapped since the start is closed as it is at the stop.

    async def _close_alerts(self) -> None:
        if self._started:  # the last event, after everything else closed
            self.emit(Event(EventType.DAEMON, self.config.bond.name, reason="vfbondd stopped"))
        await self.world.alerts.close()

    async def _stop_probing(self) -> None:
        if self.supervisor.probing is not None:
            await self.supervisor.probing.stop()

    async def _close_backend(self) -> None:
        await self.world.converger.close()

    async def _stop_converging(self) -> None:
        if self._converging is not None:
            await _cancelled(self._converging)

    async def _reload_quietly(self) -> None:
        with contextlib.suppress(CommandError):  # already reported as a WARNING event
            await self.reload()


def _fault_hooks() -> FaultHooks | None:
    if os.environ.get("VFBOND_TEST_HOOKS") != "1":
        return None
    from vfbond.daemon.testhooks import FaultHooks  # only then: production never imports it

    return FaultHooks()


def _exporter(config: config_mod.Config, status: Callable[[], dict[str, Any]], faults: Faults) -> Exporter | None:
    if not config.metrics.enabled:
        return None
    from vfbond.poll.exporter import Exporter  # prometheus_client loads only when metrics are on

    return Exporter(config.metrics, config.bond.name, status, faults)


async def _cancelled(task: asyncio.Future[Any]) -> None:
    """Cancel `task` and wait until it has finished."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
