"""vfbondd: lifecycle. Load config, start watching, serve the control socket, handle signals."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
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
from vfbond.ctl.control import ControlServer
from vfbond.judge.flap import FlapLimiter
from vfbond.kernel.fastswitch import FastSwitch
from vfbond.report.history import History
from vfbond.report.reporter import Reporter
from vfbond.shared import exitcodes
from vfbond.shared.events import Event, EventType
from vfbond.shared.faults import Faults
from vfbond.shared.protocol import CommandError
from vfbond.supervise.simulate import report_dict, switch_and_prove
from vfbond.supervise.supervisor import Supervisor
from vfbond.supervise.verify import FailoverCheck
from vfbond.supervise.vfwatch import VfWatch
from vfbond.watch.links import RCVBUF, LinkWatcher

if TYPE_CHECKING:
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
        self.history = History(Path(config.daemon.state_dir) / "events.jsonl", config.daemon.history)
        alerts = world_mod.make_alerts(config)
        self.reporter = Reporter(self.history, alerts.publish, FlapLimiter(config.alerts.flap_limit), self.faults)
        self.supervisor = Supervisor(config, self.ipr, self.reporter, self.faults, on_vf_seen=self._vf_seen)
        self.check = self.supervisor.check = FailoverCheck(self.supervisor.emit, self.faults)
        self.world = World(config, alerts, None, Converger(config, self.apply_ipr, on_waiting=self._waiting))
        self.supervisor.applying = lambda: self.world.converger.applying
        # kernel messages, MAC lock, PF resets; a VF driver's "Link is Down" triggers the fast failover
        self.vfwatch = VfWatch(config, self.ipr, emit=self.reporter.emit, on_link_down=self.supervisor.carrier_lost,
                               lock=self.supervisor.executor.lock)
        # Kernel socket buffer for link events; settable to provoke overruns in the fault tests.
        self.watcher = LinkWatcher(rcvbuf=int(os.environ.get("VFBOND_NETLINK_RCVBUF") or RCVBUF),
                                   tap=self.supervisor.tap)
        self._converging: asyncio.Task[None] | None = None
        self.exporter: Exporter | None = None
        if config.metrics.enabled:
            from vfbond.poll.exporter import Exporter  # prometheus_client loads only when metrics are on

            self.exporter = Exporter(config.metrics, config.bond.name, self.status, self.faults)
            self.reporter.on_record = self.exporter.changed
        handlers = {
            "status": self._status,
            "events": self._events,
            "reload": self._reload,
            "simulate-failover": self._simulate,
        }
        self._pause_apply: tuple[str, asyncio.Event] | None = None  # test hook: where an apply pauses
        if os.environ.get("VFBOND_TEST_HOOKS") == "1":
            handlers["test-fault"] = self._test_fault
            self.world.converger.gate = self._apply_gate
        self.control = ControlServer(config.daemon.socket, handlers, group=config.daemon.socket_group,
                                     streams={"follow": self._follow},
                                     readers=frozenset({"status", "events", "follow"}))

    @property
    def config(self) -> config_mod.Config:
        return self.world.config

    def emit(self, event: Event) -> None:
        self.supervisor.emit(event)

    @property
    def _on_rtt(self) -> Callable[[str, float], None] | None:
        return self.exporter.rtt.observe if self.exporter else None

    async def _status(self, args: dict[str, Any]) -> Any:
        return self.status()

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

    async def _events(self, args: dict[str, Any]) -> Any:
        return [e.to_dict() for e in self.history.last(int(args.get("count", 50)))]

    def _follow(self, args: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return self.reporter.followers.follow(self.history.last(int(args.get("count", 10))))

    async def _simulate(self, args: dict[str, Any]) -> Any:
        sup = self.supervisor
        await sup.refresh()
        state = sup.state
        if state is None:
            raise CommandError(f"{self.config.bond.name} not present", exitcodes.NO_BOND)
        active = state.active_slave
        backups = [s.name for s in state.slaves if s.name != active]
        if active is None or not backups:
            raise CommandError(f"{state.name} has no active slave and backup to switch between "
                               f"(active: {active or 'none'}, slaves: {', '.join(s.name for s in state.slaves)})",
                               exitcodes.REFUSED)
        backup = backups[0]
        verdict = sup.verdicts().get(backup, "unknown")
        if verdict != "up" and not args.get("force"):
            raise CommandError(f"backup {backup} is {verdict}: switching to it would cut the VM off. "
                               "Repair it first, or pass --force", exitcodes.REFUSED)
        reports = {"failover": report_dict(await switch_and_prove(sup, backup, "simulate-failover (bondctl)"))}
        if args.get("restore"):
            await asyncio.sleep(float(args.get("hold", 1.0)))
            reports["restore"] = report_dict(await switch_and_prove(sup, active, "simulate-failover --restore"))
        return reports

    def _refuse(self, reason: str, code: int = exitcodes.FAILED, **details: Any) -> CommandError:
        # Keep running on the old config: a bad reload must not take the supervision down.
        self.emit(Event(EventType.WARNING, self.config.bond.name, reason=reason, details=details))
        return CommandError(reason, code)

    async def _reload(self, args: dict[str, Any]) -> Any:
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
            world.converger.gate = old.converger.gate
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

    async def _test_fault(self, args: dict[str, Any]) -> Any:
        """Test hooks (VFBOND_TEST_HOOKS=1 only). `fault`: "handler" (default), the next link event's
        handler raises; "pause-apply", the next apply waits at stage `at` ("planned": before its first
        change, "applied": before its read-back) until "resume"."""
        fault = args.get("fault", "handler")
        if fault == "pause-apply":
            at = str(args.get("at", "planned"))
            self._pause_apply = (at, asyncio.Event())
            return {"armed": f"the next apply pauses when {at} until test-fault resume"}
        if fault == "resume":
            if self._pause_apply is not None:
                self._pause_apply[1].set()
            return {"resumed": True}
        original = self.supervisor.observe

        async def broken(ob: Any) -> None:
            self.supervisor.observe = original  # type: ignore[method-assign]
            raise RuntimeError("fault injected by the test hook")

        self.supervisor.observe = broken  # type: ignore[method-assign]
        return {"armed": "the next link event's handler raises"}

    async def _apply_gate(self, stage: str) -> None:
        if self._pause_apply is not None and self._pause_apply[0] == stage:
            log.warning("apply paused by the test hook: %s", stage)
            await self._pause_apply[1].wait()
            self._pause_apply = None

    async def _watch(self) -> None:
        while True:
            try:
                async for ob in self.watcher.events():
                    with self.faults.contained("link event handler"):
                        await self.supervisor.observe(ob)
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
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload_quietly()))
        bond = self.config.bond.name
        self.world.alerts.start()
        await world_mod.prepare_announce(self.config)
        probing = world_mod.make_probing(self.config, self.supervisor.on_verdict, self._on_rtt)
        self.world.probing = self.supervisor.probing = probing
        with self.faults.contained("fast-failover socket"):  # without it, the locked path still fails over
            fast = FastSwitch()
            fast.open()
            self.supervisor.fastswitch = fast
        # Subscribe before the first read, so no change falls between the two.
        await self.watcher.start()
        self.emit(Event(EventType.DAEMON, bond, reason=f"vfbondd {__version__} started"))
        with self.faults.contained("first read of the bond"):
            await self.supervisor.refresh()
        with self.faults.contained("kernel message watch"):
            await self.vfwatch.start()
        settle = loop.call_later(STARTUP_SETTLE, self._startup_deadline)
        tasks = [asyncio.create_task(self._watch(), name="watch"),
                 asyncio.create_task(self._resync(), name="resync"),
                 asyncio.create_task(self._flap_summaries(), name="flaps")]
        watchdog_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        if watchdog_usec:
            tasks.append(asyncio.create_task(self._watchdog(watchdog_usec / 2e6), name="watchdog"))
        converger = self.world.converger
        if self.apply:
            # The control socket opens once the first attempt is over, so `bondctl status` never
            # shows a bond half-way through it.
            self._converging = asyncio.create_task(self._converge(converger), name="converge")
            tried = asyncio.create_task(converger.tried.wait())
            await asyncio.wait([tried], timeout=READY_WAIT)
            tried.cancel()
        await self.control.start()
        if self.exporter is not None:  # like the socket: after the first attempt, not half-way through it
            self.exporter.start()
            if self.exporter.path is not None:
                tasks.append(asyncio.create_task(self.exporter.run(self.exporter.path), name="metrics"))
        status = converger.waiting if converger.waiting and self._converging and not self._converging.done() \
            else f"supervising {bond}"
        self.notifier.notify(f"READY=1\nSTATUS={status}")
        stopped = asyncio.create_task(self.stop.wait())
        done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        code = exitcodes.OK
        for task in done:
            if task is not stopped and task.exception() is not None:
                log.error("%s task failed: %r", task.get_name(), task.exception())
                code = exitcodes.FAILED
        self.notifier.notify("STOPPING=1")
        settle.cancel()
        for task in [stopped, *tasks, *([self._converging] if self._converging else [])]:
            task.cancel()
        await asyncio.gather(stopped, *tasks, *([self._converging] if self._converging else []),
                             return_exceptions=True)
        await self.control.close()
        if self.exporter is not None:
            await self.exporter.close()
        await self.world.converger.close()
        if self.supervisor.probing is not None:
            await self.supervisor.probing.stop()
        await self.check.close()
        self.watcher.close()
        if self.supervisor.fastswitch is not None:
            self.supervisor.fastswitch.close()
        await self.vfwatch.close()
        self.ipr.close()
        self.apply_ipr.close()
        self.emit(Event(EventType.DAEMON, bond, reason="vfbondd stopped"))
        await self.world.alerts.close()
        return code

    async def _reload_quietly(self) -> None:
        with contextlib.suppress(CommandError):  # already reported as a WARNING event
            await self._reload({})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vfbondd",
        description="Supervise an active-backup bond over two SR-IOV VFs: watch link state through netlink "
                    "events, fail over at once on carrier loss, record and alert every failover.",
        epilog="Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads the config (an invalid config is "
               "refused and the old one kept). Exit codes: 0 stopped cleanly, 1 failed, 2 invalid config.")
    p.add_argument("-c", "--config", default=str(config_mod.DEFAULT_PATH), help="config file (default: %(default)s)")
    p.add_argument("--check", action="store_true", help="validate the config and exit (0 valid, 2 invalid)")
    p.add_argument("--no-apply", action="store_true",
                   help="supervise the bond as it is; never create or change it (adopt only)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    p.add_argument("--version", action="version", version=f"vfbondd {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="vfbondd: %(levelname)s: %(message)s")
    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        print(exc, file=sys.stderr)
        return exitcodes.USAGE
    if args.check:
        print(f"{args.config}: valid")
        return exitcodes.OK
    return asyncio.run(_serve(config, args.config, not args.no_apply))


async def _serve(config: config_mod.Config, path: str, apply: bool) -> int:
    # Built inside the running loop: netlink sockets attach to the loop that exists at creation.
    return await Daemon(config, path, apply).run()


if __name__ == "__main__":
    sys.exit(main())
