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

from vfbond import __version__
from vfbond import config as config_mod
from vfbond.ctl.control import ControlServer
from vfbond.daemon import wiring
from vfbond.daemon.commands import Commands
from vfbond.daemon.running import RunningConfig
from vfbond.judge.flap import FlapLimiter
from vfbond.kernel.fastswitch import FastSwitch
from vfbond.kernel.rtnl import Rtnl
from vfbond.report.counters import Counters
from vfbond.report.history import History
from vfbond.report.reporter import Reporter
from vfbond.shared import exitcodes
from vfbond.shared.events import Event, EventType
from vfbond.shared.faults import Faults
from vfbond.shared.protocol import CommandError
from vfbond.shared.status import DaemonStatus, Status
from vfbond.supervise.supervisor import Supervisor
from vfbond.supervise.verify import FailoverCheck
from vfbond.supervise.vfwatch import VfWatch
from vfbond.watch.links import RCVBUF, LinkWatcher
from vfbond.watch.loop_lag import LoopLag

if TYPE_CHECKING:
    from vfbond.daemon.testhooks import FaultHooks
    from vfbond.poll.exporter import Exporter

log = logging.getLogger("vfbond")

# A full re-read now and then, in case netlink dropped messages unnoticed. Failover never waits
# for it: carrier changes arrive as events, and a reported overrun (ENOBUFS) re-reads at once.
RESYNC_SECONDS = 60.0
FLAP_CHECK_SECONDS = 5.0  # a flap summary goes out at most this late after its window closes
# READY=1 goes out after the first apply attempt, or after this long (systemd's default start
# timeout is 90 s, a NetworkManager apply can take longer); STATUS= then says what it waits for.
READY_WAIT = 45.0
STARTUP_SETTLE = 30.0  # VFs report link seconds after enslaving (igbvf: ~4 s); after this, say how it stands
WATCHER_RESTART = 1.0  # seconds before reopening a netlink socket that failed


class Daemon:
    """Builds its collaborators, each handed what it needs at construction; `run` opens them in order
    on one exit stack and serves until stopped."""

    def __init__(self, config: config_mod.Config, config_path: str, apply: bool = True) -> None:
        self.notifier = sdnotify.SystemdNotifier()
        self.stop = asyncio.Event()
        self.ipr = Rtnl()
        # Applies get their own netlink socket and thread: the supervisor reads the bond while an apply
        # runs, and neither's requests wait behind the other's dumps or a request the kernel holds.
        self.apply_ipr = Rtnl()
        self.faults = Faults()
        self.hooks = _fault_hooks()
        self.history = History(Path(config.daemon.state_dir) / "events.jsonl", config.daemon.history)
        self.exporter = _exporter(config, self.status, self.faults)
        alerts = wiring.make_alerts(config)
        self.reporter = Reporter(self.history, alerts.publish, FlapLimiter(config.alerts.flap_limit), self.faults,
                                 on_record=self.exporter.changed if self.exporter else None,
                                 counters=Counters.open(Path(config.daemon.state_dir) / "counters.json",
                                                        self.history.last()))
        self.check = FailoverCheck(self.reporter.emit, self.faults)  # its events never touch the isolation state
        self.fastswitch = FastSwitch()  # its socket opens at start
        # `running` (below) tells the supervisor its config; the supervisor asks it back through these two.
        self.supervisor = Supervisor(config, self.ipr, self.reporter, self.faults, check=self.check,
                                     fastswitch=self.fastswitch, applying=lambda: self.running.applying,
                                     on_vf_seen=lambda: self.running.vf_seen(),
                                     on_drift=lambda what: self.running.drifted(what),
                                     read_gate=self.hooks.read_gate if self.hooks else None)
        # kernel messages, MAC lock, PF resets; a VF driver's "Link is Down" triggers the fast failover
        self.vfwatch = VfWatch(config, self.ipr, emit=self.reporter.emit,
                               on_link_down=self.supervisor.fast.carrier_lost, lock=self.supervisor.executor.lock)
        self.running = RunningConfig(config, config_path, apply, self.apply_ipr, alerts, supervisor=self.supervisor,
                                     vfwatch=self.vfwatch, reporter=self.reporter, notify=self.notifier.notify,
                                     gate=self.hooks.apply_gate if self.hooks else None,
                                     on_rtt=self.exporter.rtt.observe if self.exporter else None,
                                     quiet=self.fastswitch.answered)
        # Kernel socket buffer for link events; settable to provoke overruns in the fault tests.
        self.watcher = LinkWatcher(rcvbuf=int(os.environ.get("VFBOND_NETLINK_RCVBUF") or RCVBUF),
                                   tap=self.supervisor.fast.tap)
        # The link watch's way in: the supervisor, or (test hooks) a stand-in that can be told to fail.
        self._observe = self.hooks.observing(self.supervisor.observe) if self.hooks else self.supervisor.observe
        self.loop_lag = LoopLag()
        self.commands = Commands(self.status, self.history, self.reporter.followers, self.supervisor, self.running)
        handlers = self.commands.handlers()
        if self.hooks is not None:
            handlers["test-fault"] = self.hooks.test_fault
        self.control = ControlServer(config.daemon.socket, handlers, group=config.daemon.socket_group,
                                     streams=self.commands.streams(), readers=Commands.READERS)
        self._tasks: list[asyncio.Task[None]] = []  # each one's failure stops the daemon
        self._started = False  # "started" was said: "stopped" will be

    @property
    def config(self) -> config_mod.Config:
        return self.running.config

    def emit(self, event: Event) -> None:
        self.supervisor.emit(event)

    def status(self) -> Status:
        daemon: DaemonStatus = {"pid": os.getpid(), "version": __version__, "config": self.running.path,
                                **self.running.status(),
                                "followers": {"connected": len(self.reporter.followers),
                                              "events_dropped": self.reporter.followers.dropped},
                                "history_write_errors": self.history.write_errors}
        return {"daemon": daemon, **self.supervisor.status(), "alerts": self.running.current.alerts.stats(),
                "vf": self.vfwatch.status(), "counters": self.reporter.counters.to_dict(),
                "reconcile": self.running.reconciler.status(), "loop_lag": self.loop_lag.status()}

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
            self.control.claim()  # a live vfbondd on the socket: refuse before touching the bond (AlreadyServing)
            await self._open_intake(stack)
            self._start_tasks(stack)
            await self._first_apply(stack)
            await self._open_control(stack)
            self.notifier.notify(f"READY=1\nSTATUS={self.running.ready_status()}")
            code = await self._until_stopped(stack)
            self.notifier.notify("STOPPING=1")
        return code

    async def _open_intake(self, stack: contextlib.AsyncExitStack) -> None:
        """Alerts, probes, the fast-failover socket, the link watcher, the first read, kernel messages."""
        self.running.current.alerts.start()
        stack.push_async_callback(self._close_alerts)
        stack.callback(self.apply_ipr.close)
        stack.callback(self.ipr.close)
        await wiring.prepare_announce(self.config)
        self.running.start_probing()
        stack.push_async_callback(self.running.stop_probing)
        with self.faults.contained("fast-failover socket"):  # without it, the locked path still fails over
            self.fastswitch.open()
            stack.callback(self.fastswitch.close)
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
        self._task(stack, self.loop_lag.run(), "loop lag")
        watchdog_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        if watchdog_usec:
            self._task(stack, self._watchdog(watchdog_usec / 2e6), "watchdog")

    async def _first_apply(self, stack: contextlib.AsyncExitStack) -> None:
        """Start applying the config, and wait for the first attempt (at most READY_WAIT)."""
        stack.push_async_callback(self.running.close_backend)
        if self.running.apply:
            stack.push_async_callback(self.running.stop_applying)
            await self.running.start_applying(timeout=READY_WAIT)

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

    async def _close_alerts(self) -> None:
        if self._started:  # the last event, after everything else closed
            self.emit(Event(EventType.DAEMON, self.config.bond.name, reason="vfbondd stopped"))
        await self.running.close_alerts()

    async def _reload_quietly(self) -> None:
        with contextlib.suppress(CommandError):  # already reported as a WARNING event
            await self.running.reload()


def _fault_hooks() -> FaultHooks | None:
    if os.environ.get("VFBOND_TEST_HOOKS") != "1":
        return None
    from vfbond.daemon.testhooks import FaultHooks  # only then: production never imports it

    return FaultHooks()


def _exporter(config: config_mod.Config, status: Callable[[], Status], faults: Faults) -> Exporter | None:
    if not config.metrics.enabled:
        return None
    from vfbond.poll.exporter import Exporter  # prometheus_client loads only when metrics are on

    return Exporter(config.metrics, config.bond.name, status, faults)


async def _cancelled(task: asyncio.Future[Any]) -> None:
    """Cancel `task` and wait until it has finished."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
