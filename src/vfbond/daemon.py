"""vfbondd: lifecycle. Load config, start watching, serve the control socket, handle signals."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import sdnotify
from pyroute2 import AsyncIPRoute

from . import __version__, announce, config as config_mod, exitcodes
from .control import CommandError, ControlServer
from .apply import converge
from .backends.base import Backend, BackendError
from .backends.select import select_backend
from .events import Event, EventType, History
from .plan import PlanError
from .sinks import Dispatcher, build_sinks
from .supervisor import Supervisor
from .watch.links import LinkWatcher

log = logging.getLogger("vfbond")

# A full re-read now and then, in case netlink dropped messages under load (ENOBUFS).
# Failover never waits for it: carrier changes arrive as events.
RESYNC_SECONDS = 60.0
FLAP_CHECK_SECONDS = 5.0  # a flap summary goes out at most this late after its window closes
NM_REENSLAVE_GRACE = 3.0


class Daemon:
    def __init__(self, config: config_mod.Config, config_path: str, apply: bool = True) -> None:
        self.config = config
        self.config_path = config_path
        self.apply = apply
        self.backend: Backend | None = None
        self.backend_reason = "none (--no-apply: supervising only)"
        self.notifier = sdnotify.SystemdNotifier()
        self.stop = asyncio.Event()
        self.ipr = AsyncIPRoute()
        state_dir = Path(config.daemon.state_dir)
        self.history = History(state_dir / "events.jsonl", config.daemon.history)
        self.alerts = Dispatcher(build_sinks(config.alerts), config.alerts.queue_size)
        self.supervisor = Supervisor(config, self.ipr, self.history, publish=self.alerts.publish)
        self.watcher = LinkWatcher()
        self.control = ControlServer(config.daemon.socket, {
            "status": self._status,
            "events": self._events,
            "reload": self._reload,
            "simulate-failover": self._simulate,
        }, group=config.daemon.socket_group)

    async def _status(self, args: dict[str, Any]) -> Any:
        return {"daemon": {"pid": os.getpid(), "version": __version__, "config": self.config_path,
                           "backend": self.backend_reason, "backend_version": self.backend and self.backend.version},
                **self.supervisor.status(), "alerts": self.alerts.stats()}

    async def _converge(self) -> None:
        """Bring the bond to the config (adopting one that exists); on failure keep supervising as is."""
        bond = self.config.bond.name
        try:
            if self.backend is None:
                self.backend, self.backend_reason = await select_backend(self.config, self.ipr)
                # NetworkManager re-attaches ports matched by MAC itself; give it the first chance.
                self.supervisor.reenslave_grace = NM_REENSLAVE_GRACE if self.backend.name == "nm" else 0.0
                log.info("backend %s: %s", self.backend.name, self.backend_reason)
            outcome = await converge(self.backend, self.config.bond, self.ipr, progress=log.info)
        except (BackendError, PlanError) as exc:
            self.supervisor.emit(Event(EventType.WARNING, bond, reason=f"config not applied: {exc}"))
            return
        if outcome.changes:
            self.supervisor.emit(Event(EventType.DAEMON, bond, reason=f"{self.backend.name} backend applied: "
                                       + "; ".join(str(c) for c in outcome.changes)))

    async def _events(self, args: dict[str, Any]) -> Any:
        return [e.to_dict() for e in self.history.last(int(args.get("count", 50)))]

    async def _simulate(self, args: dict[str, Any]) -> Any:
        from .simulate import report_dict, switch_and_prove  # scapy, on first use only

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

    async def _reload(self, args: dict[str, Any]) -> Any:
        try:
            new = config_mod.load(self.config_path)
        except config_mod.ConfigError as exc:
            # Keep running on the old config: a typo must not take the supervision down.
            self.supervisor.emit(Event(EventType.WARNING, self.config.bond.name,
                                       reason=f"reload refused, config invalid: {exc.problems[0]}",
                                       details={"problems": [str(p) for p in exc.problems]}))
            raise CommandError(str(exc), exitcodes.USAGE) from None
        if new.backend != self.config.backend:
            await self._close_backend()
        old = self.config
        self.config = self.supervisor.config = new
        if new.probes != old.probes or new.bond != old.bond:
            await self._start_probes()
        await self._prepare_announce()
        if new.alerts != old.alerts:
            await self.alerts.close()
            self.alerts = Dispatcher(build_sinks(new.alerts), new.alerts.queue_size)
            self.alerts.start()
            self.supervisor.publish = self.alerts.publish
        self.supervisor.emit(Event(EventType.DAEMON, new.bond.name, reason=f"config reloaded from {self.config_path}"))
        if self.apply:
            await self._converge()
        await self.supervisor.refresh()
        return {"reloaded": self.config_path}

    async def _watch(self) -> None:
        async for ev in self.watcher.events():
            await self.supervisor.on_link(ev)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            await self.supervisor.refresh()

    async def _flap_summaries(self) -> None:
        while True:
            await asyncio.sleep(FLAP_CHECK_SECONDS)
            self.supervisor.flush_flaps()

    async def _prepare_announce(self) -> None:
        if max(self.config.bond.num_grat_arp, self.config.bond.num_unsol_na) == 0:
            await asyncio.to_thread(announce.prepare)  # vfbondd announces failovers itself

    async def _start_probes(self) -> None:
        if self.supervisor.probing is not None:
            await self.supervisor.probing.stop()
            self.supervisor.probing = None
        if self.config.probes.enabled:
            from .probing import Probing  # scapy is loaded only when probes are on

            self.supervisor.probing = Probing(self.config.bond, self.config.probes, self.supervisor.on_verdict)

    async def _watchdog(self, interval: float) -> None:
        while True:
            self.notifier.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload_quietly()))
        self.alerts.start()
        await self._prepare_announce()
        await self._start_probes()
        # Subscribe before the first read, so no change falls between the two.
        await self.watcher.start()
        if self.apply:
            await self._converge()
        await self.supervisor.refresh()
        await self.control.start()
        bond = self.config.bond.name
        state = self.supervisor.state
        self.supervisor.emit(Event(EventType.DAEMON, bond, reason=f"vfbondd {__version__} started; " + (
            f"{bond} active slave {state.active_slave}" if state else f"{bond} not present yet")))
        tasks = [asyncio.create_task(self._watch(), name="watch"),
                 asyncio.create_task(self._resync(), name="resync"),
                 asyncio.create_task(self._flap_summaries(), name="flaps")]
        watchdog_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        if watchdog_usec:
            tasks.append(asyncio.create_task(self._watchdog(watchdog_usec / 2e6), name="watchdog"))
        self.notifier.notify(f"READY=1\nSTATUS=supervising {bond}")
        stopped = asyncio.create_task(self.stop.wait())
        done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        code = exitcodes.OK
        for task in done:
            if task is not stopped and task.exception() is not None:
                log.error("%s task failed: %r", task.get_name(), task.exception())
                code = exitcodes.FAILED
        self.notifier.notify("STOPPING=1")
        for task in [stopped, *tasks]:
            task.cancel()
        await asyncio.gather(stopped, *tasks, return_exceptions=True)
        await self.control.close()
        await self._close_backend()
        if self.supervisor.probing is not None:
            await self.supervisor.probing.stop()
        self.watcher.close()
        self.ipr.close()
        self.supervisor.emit(Event(EventType.DAEMON, bond, reason="vfbondd stopped"))
        await self.alerts.close()
        return code

    async def _close_backend(self) -> None:
        if self.backend is not None:
            await self.backend.close()
            self.backend = None

    async def _reload_quietly(self) -> None:
        try:
            await self._reload({})
        except CommandError:
            pass  # already reported as a WARNING event


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
