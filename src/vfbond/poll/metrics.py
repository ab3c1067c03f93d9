"""vfbondd's status as Prometheus metrics, from one custom collector that reads the status at every
scrape or write: nothing is kept in a gauge that an event could forget to update.

Names follow Prometheus conventions (counters end in _total, times in _seconds, the info metric in
_info). Every series carries `bond`, so the files of several vfbondd in one textfile directory
never collide. `slave` is the interface name, as in `bondctl status` and the failover counters, and
empty while a configured VF is out of the bond; `label` is the config's, stable across VF renames.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from itertools import accumulate

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from vfbond.judge.condition import Condition, configured, of_status
from vfbond.shared.status import CountersStatus, Status, Verdict

# A gateway on the same LAN answers in well under 1 ms to a few ms; timeout_ms (at most 1 s
# in practice) bounds the rest, since a later reply is a miss, not an RTT.
RTT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
BOUNDS = [*map(repr, RTT_BUCKETS), "+Inf"]  # the le label values

Rtt = dict[str, tuple[list[int], float]]  # slave label -> (count per bucket, +Inf last; sum of seconds)
Snapshot = tuple[Status, Rtt]  # vfbondd's status, the probe RTTs


class RttHistograms:
    """Every probe reply's RTT, bucketed as it arrives (Health keeps only a window of them)."""

    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}

    def observe(self, label: str, seconds: float) -> None:
        counts = self._counts.setdefault(label, [0] * (len(RTT_BUCKETS) + 1))
        counts[bisect_left(RTT_BUCKETS, seconds)] += 1  # le: a reply of exactly a bound is in its bucket
        self._sums[label] = self._sums.get(label, 0.0) + seconds

    def snapshot(self) -> Rtt:
        return {label: (list(counts), self._sums[label]) for label, counts in self._counts.items()}


def families(status: Status, rtt: Rtt) -> Iterator[Metric]:
    """The metrics of one status (daemon.status()) and the RTTs observed so far."""
    bond = status.get("bond_name") or ""
    daemon = status.get("daemon")
    info = InfoMetricFamily("vfbond", "vfbondd's version and the backend that applies the bond", labels=["bond"])
    info.add_metric([bond], {"version": (daemon["version"] if daemon else None) or "",
                             "backend": (daemon["backend_name"] if daemon else None) or "none"})
    yield info
    yield from _moves(bond, status.get("counters"))
    yield from _slaves(bond, status, rtt)
    cond = of_status(status)
    degraded = GaugeMetricFamily("vfbond_bond_degraded", "1 while some configured VF is not healthy and another "
                                 "is, or the standby carries the traffic",
                                 labels=["bond"])
    degraded.add_metric([bond], int(cond == Condition.DEGRADED))
    yield degraded
    isolated = GaugeMetricFamily("vfbond_bond_isolated", "1 while no configured VF is healthy and no standby "
                                 "carries the traffic, or the bond is gone",
                                 labels=["bond"])
    isolated.add_metric([bond], int(cond in (Condition.DOWN, Condition.ABSENT)))
    yield isolated
    dropped = CounterMetricFamily("vfbond_alerts_dropped", "Alerts a sink's full queue dropped since vfbondd started",
                                  labels=["bond", "sink"])
    for sink, stats in sorted((status.get("alerts") or {}).items()):
        dropped.add_metric([bond, sink], stats.get("dropped", 0))
    yield dropped
    faults = CounterMetricFamily("vfbond_faults", "Faults vfbondd survived since it started, by where they happened",
                                 labels=["bond", "where"])
    survived = status.get("faults")
    for where, count in sorted(((survived.get("by_kind") if survived else None) or {}).items()):
        faults.add_metric([bond, where], count)
    yield faults
    yield from _upkeep(bond, status)
    yield from _standby(bond, status)


def _standby(bond: str, status: Status) -> Iterator[Metric]:
    """The standby (bond.standby, #22): in the bond or not, its health, whether the bond runs on it and the time
    on it; and the VFs a live migration detached that are not back (the error vfs_not_returned)."""
    standby = status.get("standby")
    labels = ["bond", "slave", "label"]
    present = GaugeMetricFamily("vfbond_standby_present", "1 while the standby (bond.standby, a paravirtual port) "
                                "is in the bond", labels=labels)
    healthy = GaugeMetricFamily("vfbond_standby_healthy", "1 while vfbondd's verdict on the standby is up (carrier, "
                                "and the gateway answering through it when probes are on)", labels=labels)
    if standby:
        name = standby["ifname"]
        values = [bond, name or "", standby["label"]]
        present.add_metric(values, int(name is not None))
        healthy.add_metric(values, int(name is not None and (status.get("verdicts") or {}).get(name) == Verdict.UP))
    yield from (present, healthy)
    yield _one(GaugeMetricFamily, "vfbond_on_standby", "1 while the standby carries the traffic (no VF usable)",
               bond, int(bool(standby and standby["on_standby"])))
    yield _one(GaugeMetricFamily, "vfbond_on_standby_seconds", "Seconds since the standby took the traffic over "
               "(on_standby); 0 while a VF carries it", bond, (standby["on_standby_s"] if standby else None) or 0.0)
    yield _one(CounterMetricFamily, "vfbond_standby_seconds", "Seconds the standby carried the traffic since "
               "vfbondd started", bond, standby["on_standby_total_s"] if standby else 0.0)
    yield _one(GaugeMetricFamily, "vfbond_vfs_not_returned", "VFs a live migration detached that are not back "
               "failover.vf_return_alert_s after (the vfs_not_returned event)", bond,
               len(status.get("vfs_not_returned") or []))


def _one(family: Callable[..., GaugeMetricFamily | CounterMetricFamily], name: str, doc: str, bond: str,
         value: float) -> Metric:
    """A family with one sample, the bond's."""
    found = family(name, doc, labels=["bond"])
    found.add_metric([bond], value)
    return found


def _upkeep(bond: str, status: Status) -> Iterator[Metric]:
    """The reconciler (maintenance, repairs of drift) and vfbondd's own event loop."""
    rec = status.get("reconcile")
    yield _one(GaugeMetricFamily, "vfbond_paused", "1 while maintenance (`bondctl pause`) holds off convergence",
               bond, int(bool(rec and rec["paused"])))
    yield _one(CounterMetricFamily, "vfbond_repairs", "Times vfbondd put the bond back to its config after someone "
               "else changed it, since vfbondd started", bond, rec["repairs"] if rec else 0)
    lag = status.get("loop_lag")
    for name, key, what in (("p99", "p99_ms", "99th percentile"), ("max", "max_ms", "largest")):
        family = GaugeMetricFamily(f"vfbond_loop_lag_{name}_seconds", f"How late vfbondd's event loop woke: the "
                                   f"{what} delay over the last minute", labels=["bond"])
        family.add_metric([bond], (lag[key] if lag else 0.0) / 1000)  # type: ignore[literal-required]
        yield family


def _moves(bond: str, counters: CountersStatus | None) -> Iterator[Metric]:
    """Persisted apart from the event history (report/counters.py): a vfbondd restart does not reset them."""
    labels = ["bond", "from_slave", "to_slave", "reason"]
    for kind, what in (("failover", "off a failed or lost slave, or by hand"), ("failback", "back to the primary")):
        family = CounterMetricFamily(f"vfbond_{kind}s", f"Moves of the active slave {what}; reason is the cause",
                                     labels=labels)
        for move in ((counters.get("moves") if counters else None) or []):
            if move["type"] == kind:
                family.add_metric([bond, move["from"], move["to"], move["cause"]], move["count"])
        yield family
    checks = CounterMetricFamily("vfbond_failover_checks", "Checks after each move of the active slave, by result: "
                                 "the gateway answered through the new VF (verified) or not (unverified), and no "
                                 "peer notification left it (peers_not_notified)", labels=["bond", "result"])
    counted = (counters.get("checks") if counters else None) or {}
    for result in ("verified", "unverified", "peers_not_notified"):  # every result, from 0: increase() sees the first
        checks.add_metric([bond, result], counted.get(result, 0))
    yield checks
    last = counters.get("last_move") if counters else None
    stamp = GaugeMetricFamily("vfbond_last_failover_timestamp_seconds",
                              "Unix time of the newest move of the active slave (failover or failback)",
                              labels=["bond"])
    if last:
        stamp.add_metric([bond], last["time"])
    yield stamp


def _slaves(bond: str, status: Status, rtt: Rtt) -> Iterator[Metric]:
    kernel_bond = status.get("bond")
    active_slave = kernel_bond["active_slave"] if kernel_bond else None
    labels = ["bond", "slave", "label"]
    up = GaugeMetricFamily("vfbond_slave_up", "1 while the kernel's MII status of the slave is up", labels=labels)
    healthy = GaugeMetricFamily("vfbond_slave_healthy", "1 while vfbondd's verdict on the slave is up (carrier, "
                                "and the gateway answering through it when probes are on)", labels=labels)
    active = GaugeMetricFamily("vfbond_active", "1 for the bond's active slave, 0 for the other", labels=labels)
    rtts = HistogramMetricFamily("vfbond_probe_rtt_seconds", "Gateway probe replies (ARP, NS) through the slave",
                                 labels=labels)
    for vf in configured(status):
        values = [bond, vf.name, vf.label]
        up.add_metric(values, int(vf.slave is not None and vf.slave["mii_status"] == "up"))
        healthy.add_metric(values, int(vf.verdict == Verdict.UP))
        active.add_metric(values, int(vf.slave is not None and vf.name == active_slave))
        counts, total = rtt.get(vf.label, ([0] * (len(RTT_BUCKETS) + 1), 0.0))
        rtts.add_metric(values, list(zip(BOUNDS, accumulate(counts), strict=True)), total)
    yield from (up, healthy, active)
    yield from _mac_lock(bond, status)
    if status.get("probes") == "enabled":
        yield rtts


def _mac_lock(bond: str, status: Status) -> Iterator[Metric]:
    """A VF whose MAC the host locked (an untrusted VF with an admin MAC) refuses another: only
    fail_over_mac=active leaves each VF its own MAC (the MAC-lock probe, supervise/maclock.py)."""
    locks = (status.get("vf") or {}).get("slaves") or {}
    locked = GaugeMetricFamily("vfbond_slave_mac_locked", "1 while the host keeps the VF from changing its MAC "
                               "(vfbondd's MAC-lock probe)", labels=["bond", "slave", "label"])
    for vf in configured(status):
        lock = locks.get(vf.name, {}).get("mac_lock") if vf.name else None
        locked.add_metric([bond, vf.name, vf.label], int(lock is not None and lock["state"] == "locked"))
    yield locked
    kernel_bond = status.get("bond")
    active_mac = GaugeMetricFamily("vfbond_fail_over_mac_active", "1 while the bond's fail_over_mac is active "
                                   "(each VF keeps its own MAC: what a MAC-locked VF needs)", labels=["bond"])
    if kernel_bond:
        active_mac.add_metric([bond], int(kernel_bond["fail_over_mac"] == "active"))
    yield active_mac


class StatusCollector(Collector):
    def __init__(self, read: Callable[[], Snapshot]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        yield from families(*self._read())


def registry(read: Callable[[], Snapshot]) -> CollectorRegistry:
    """vfbond's metrics alone: no process or Python runtime metrics beside them in node_exporter."""
    found = CollectorRegistry()
    found.register(StatusCollector(read))
    return found
