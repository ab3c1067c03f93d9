"""The daemon's wiring: what a config sets running (alert sinks, probing, the backend and its plan).

A reload builds the new set beside the running one and swaps only when every piece was built
and the plan holds on this machine; any failure leaves the running set untouched. What did not
change is shared, not rebuilt: an alert sink whose own settings are the same keeps its queue and
its counts (a flap_limit or queue_size change rebuilds no sink).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, fields

from vfbond.config import Config, DaemonConfig, MetricsConfig
from vfbond.configure.applier import Applier
from vfbond.kernel import announce
from vfbond.kernel.rtnl import Rtnl
from vfbond.sinks import Dispatcher, dispatcher_beside, make_dispatcher
from vfbond.supervise.probing import OnRtt, OnVerdict, Probing


@dataclass
class RunningSet:
    config: Config
    alerts: Dispatcher
    probing: Probing | None
    applier: Applier


def make_probing(config: Config, on_verdict: OnVerdict, on_rtt: OnRtt | None = None) -> Probing | None:
    if not config.probes.enabled:
        return None
    return Probing(config.bond, config.probes, on_verdict, on_rtt)


def make_alerts(config: Config) -> Dispatcher:
    return make_dispatcher(config.alerts)


async def prepare_announce(config: Config) -> None:
    if max(config.bond.num_grat_arp, config.bond.num_unsol_na) == 0:
        await asyncio.to_thread(announce.prepare)  # vfbondd announces failovers itself


def restart_needed(old: Config, new: Config) -> list[str]:
    """Settings a running vfbondd cannot take over (its socket, its history file, its metrics endpoint)."""
    return [f"daemon.{f.name}" for f in fields(DaemonConfig)
            if getattr(old.daemon, f.name) != getattr(new.daemon, f.name)] + \
           [f"metrics.{f.name}" for f in fields(MetricsConfig)
            if getattr(old.metrics, f.name) != getattr(new.metrics, f.name)]


async def build_beside(new: Config, old: RunningSet, ipr: Rtnl, on_verdict: OnVerdict,
                       on_waiting: Callable[[str], None], check_plan: bool = True,
                       on_rtt: OnRtt | None = None) -> RunningSet:
    """The running set for `new`, sharing what did not change with `old`. Raises when any piece fails
    (a TLS ca_file that is missing, NetworkManager not answering, a VF not there); `check_plan`
    False (vfbondd --no-apply) leaves the backend alone."""
    running = RunningSet(new, old.alerts, old.probing, old.applier)
    try:
        if new.alerts != old.config.alerts:
            running.alerts = await dispatcher_beside(new.alerts, old.alerts)
        if new.probes != old.config.probes or new.bond != old.config.bond:
            running.probing = make_probing(new, on_verdict, on_rtt)
        if (new.backend, new.ifcfg_dir) == (old.config.backend, old.config.ifcfg_dir):
            running.applier = Applier(new, ipr, old.applier.backend, old.applier.backend_reason, on_waiting,
                                        gate=old.applier.gate, quiet=old.applier.quiet)
        else:
            running.applier = Applier(new, ipr, on_waiting=on_waiting, gate=old.applier.gate, quiet=old.applier.quiet)
        await prepare_announce(new)
        if check_plan:
            await running.applier.apply(dry_run=True)  # the plan holds here, and the backend answers
    except BaseException:
        await discard(running, old)
        raise
    return running


async def discard(running: RunningSet, keep: RunningSet) -> None:
    """Close what `running` built that `keep` does not use."""
    if running.alerts is not keep.alerts:
        await running.alerts.close(keep=keep.alerts)
    if running.probing is not None and running.probing is not keep.probing:
        await running.probing.stop()
    if running.applier.backend is not keep.applier.backend:
        await running.applier.close()
