"""Prometheus metrics: vfbondd's status as exposition text, the textfile writer and the HTTP endpoint."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.test_snmp_view import status as snmp_status
from tests.unit.test_snmp_view import with_standby as snmp_with_standby
from vfbond import config as config_mod
from vfbond.config import MetricsConfig, ProbeConfig
from vfbond.daemon.wiring import restart_needed
from vfbond.judge.flap import FlapLimiter
from vfbond.judge.health import ProbeResult
from vfbond.poll import metrics
from vfbond.poll.exporter import Exporter
from vfbond.report.history import History
from vfbond.report.reporter import Reporter
from vfbond.shared.events import Event, EventType
from vfbond.shared.faults import Faults
from vfbond.supervise.probing import Probing

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
A, B = "enp1s0v0", "enp2s0v0"  # in the bond: A active and healthy, B up with its path down; sriov2 not in the bond


def status(**extra: Any) -> dict[str, Any]:
    moves = [{"type": "failover", "from": B, "to": A, "cause": "carrier_loss", "count": 3},
             {"type": "failover", "from": B, "to": A, "cause": "manual", "count": 1},
             {"type": "failback", "from": B, "to": A, "cause": "primary_back", "count": 2}]
    base = snmp_status(daemon={"version": "0.1.0", "backend_name": "nm"},
                       alerts={"journal": {"dropped": 0}, "syslog:192.0.2.50:514/tcp": {"dropped": 7}},
                       faults={"by_kind": {"history write": 2, "link event handler": 1}})
    base["counters"] = {**base["counters"], "moves": moves}
    return {**base, **extra}


def render(st: dict[str, Any], rtt: metrics.Rtt | None = None) -> str:
    return generate_latest(metrics.registry(lambda: (st, rtt or {}))).decode()


def samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def test_moves_are_counted_by_from_to_and_cause_and_failbacks_apart() -> None:
    found = samples(render(status()))
    move = {"bond": "bond0", "from_slave": B, "to_slave": A}
    assert value(found, "vfbond_failovers_total", **move, reason="carrier_loss") == 3
    assert value(found, "vfbond_failovers_total", **move, reason="manual") == 1
    assert value(found, "vfbond_failbacks_total", **move, reason="primary_back") == 2
    assert value(found, "vfbond_failovers_total", **move, reason="primary_back") is None
    assert value(found, "vfbond_last_failover_timestamp_seconds", bond="bond0") == 1764853200.5


def test_per_slave_gauges_follow_mii_verdict_and_the_active_slave_and_keep_a_vf_out_of_the_bond() -> None:
    found = samples(render(status()))
    a, b, gone = ({"bond": "bond0", "slave": n, "label": label}
                  for n, label in ((A, "sriov0"), (B, "sriov1"), ("", "sriov2")))
    assert [value(found, "vfbond_active", **s) for s in (a, b, gone)] == [1, 0, 0]
    assert [value(found, "vfbond_slave_up", **s) for s in (a, b, gone)] == [1, 1, 0]  # MII up, path down: up
    assert [value(found, "vfbond_slave_healthy", **s) for s in (a, b, gone)] == [1, 0, 0]
    moved = {**status(), "bond": {**status()["bond"], "active_slave": B}}
    assert value(samples(render(moved)), "vfbond_active", **b) == 1
    assert value(samples(render(moved)), "vfbond_active", **a) == 0


def condition(st: dict[str, Any]) -> tuple[float | None, float | None]:
    found = samples(render(st))
    return value(found, "vfbond_bond_degraded", bond="bond0"), value(found, "vfbond_bond_isolated", bond="bond0")


def test_degraded_isolated_and_a_missing_bond() -> None:
    assert condition(status()) == (1, 0)
    assert condition(status(verdicts={A: "down", B: "path_down"})) == (0, 1)
    all_up = status(verdicts={A: "up", B: "up"})
    all_up["configured"] = all_up["configured"][:2]
    assert condition(all_up) == (0, 0)
    assert condition(status(bond=None)) == (0, 1)
    assert value(samples(render(status(bond=None))), "vfbond_active", bond="bond0", slave=A, label="sriov0") == 0


def test_daemon_metrics_drops_faults_and_info() -> None:
    found = samples(render(status()))
    assert value(found, "vfbond_alerts_dropped_total", bond="bond0", sink="syslog:192.0.2.50:514/tcp") == 7
    assert value(found, "vfbond_alerts_dropped_total", bond="bond0", sink="journal") == 0
    assert value(found, "vfbond_faults_total", bond="bond0", where="history write") == 2
    assert value(found, "vfbond_info", bond="bond0", version="0.1.0", backend="nm") == 1


def test_no_move_yet_has_no_timestamp_and_no_move_series() -> None:
    text = render(status(counters={"failovers": 0, "failbacks": 0, "moves": [], "last_move": None}))
    assert "vfbond_last_failover_timestamp_seconds{" not in text and "vfbond_failovers_total{" not in text
    assert "# TYPE vfbond_failovers_total counter" in text  # the family is still described


def test_rtt_histogram_is_cumulative_with_le_inclusive_and_only_with_probes() -> None:
    rtt = metrics.RttHistograms()
    for seconds in (0.0003, 0.001, 0.001, 0.004, 3.0):  # 3 s: past every bound, in +Inf only
        rtt.observe("sriov0", seconds)
    found = samples(render(status(probes="enabled"), rtt.snapshot()))
    s = {"bond": "bond0", "slave": A, "label": "sriov0"}
    buckets = {le: value(found, "vfbond_probe_rtt_seconds_bucket", **s, le=le) for le in metrics.BOUNDS}
    assert buckets["0.0005"] == 1 and buckets["0.001"] == 3 and buckets["0.0025"] == 3 and buckets["0.005"] == 4
    assert buckets["1.0"] == 4 and buckets["+Inf"] == 5
    assert value(found, "vfbond_probe_rtt_seconds_count", **s) == 5
    assert abs(value(found, "vfbond_probe_rtt_seconds_sum", **s) - 3.0063) < 1e-9  # type: ignore[operator]
    assert value(found, "vfbond_probe_rtt_seconds_count", bond="bond0", slave=B, label="sriov1") == 0
    assert "vfbond_probe_rtt_seconds" not in render(status(probes="disabled"), rtt.snapshot())


def test_the_standby_its_presence_health_whether_the_bond_runs_on_it_and_the_time_on_it() -> None:
    pv0 = {"bond": "bond0", "slave": "pv0", "label": "standby"}
    on = samples(render(snmp_with_standby(on=True)))
    assert value(on, "vfbond_standby_present", **pv0) == 1 and value(on, "vfbond_standby_healthy", **pv0) == 1
    assert value(on, "vfbond_on_standby", bond="bond0") == 1
    assert value(on, "vfbond_on_standby_seconds", bond="bond0") == 42.5
    assert value(on, "vfbond_standby_seconds_total", bond="bond0") == 100.25
    assert value(on, "vfbond_active", bond="bond0", slave=A, label="sriov0") == 0  # the VFs' series stay the VFs'
    backup = samples(render(snmp_with_standby(on=False)))
    assert value(backup, "vfbond_on_standby", bond="bond0") == 0
    assert value(backup, "vfbond_on_standby_seconds", bond="bond0") == 0
    assert value(backup, "vfbond_standby_seconds_total", bond="bond0") == 100.25
    gone = snmp_with_standby(on=False)
    gone["standby"] = {**gone["standby"], "ifname": None}  # configured, not on this VM (or not enslaved yet)
    assert value(samples(render(gone)), "vfbond_standby_present", bond="bond0", slave="", label="standby") == 0
    none = samples(render(status()))  # no standby configured: no standby series, the bond not on one
    assert not [key for key in none if key[0] in ("vfbond_standby_present", "vfbond_standby_healthy")]
    assert value(none, "vfbond_on_standby", bond="bond0") == 0


def test_the_vfs_not_returned_are_counted() -> None:
    missing = ("fa:16:3e:00:00:01", "fa:16:3e:00:00:02")
    assert value(samples(render(snmp_with_standby(True, missing))), "vfbond_vfs_not_returned", bond="bond0") == 2
    assert value(samples(render(status())), "vfbond_vfs_not_returned", bond="bond0") == 0


def test_probing_hands_each_reply_rtt_to_the_observer_and_no_miss() -> None:
    seen: list[tuple[str, float]] = []
    bond = config_mod.parse("bond:\n  slaves: [{name: a}, {name: b}]\n").bond
    probing = Probing(bond, ProbeConfig(enabled=True, targets=("192.0.2.1",)), lambda *_: None,
                      lambda label, rtt: seen.append((label, rtt)))
    probing.record(ProbeResult("sriov1", "192.0.2.1", True, 0.0021))
    probing.record(ProbeResult("sriov1", "192.0.2.1", False))
    assert seen == [("sriov1", 0.0021)]
    assert probing.snapshot()["sriov1"]["targets"]["192.0.2.1"]["probes_in_window"] == 2  # health still got both


def test_failovers_counted_before_a_restart_are_still_counted_after_it(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    before = Reporter(History(path), lambda _e: None, FlapLimiter(10), Faults())
    before.emit(Event(EventType.FAILOVER, "bond0", old_active=A, new_active=B, reason=f"carrier loss on {A}"))
    after = Reporter(History(path), lambda _e: None, FlapLimiter(10), Faults())  # vfbondd restarted
    found = samples(render(status(counters=after.counters.to_dict())))
    assert value(found, "vfbond_failovers_total", bond="bond0", from_slave=A, to_slave=B, reason="carrier_loss") == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_textfile_is_written_at_start_after_each_event_and_survives_a_missing_directory(
        tmp_path: Path) -> None:
    current = status()
    faults = Faults()
    directory = tmp_path / "textfile"
    exporter = Exporter(MetricsConfig(textfile_dir=str(directory), interval_s=3600), "bond0", lambda: current, faults)
    assert exporter.path == directory / "vfbond_bond0.prom"
    task = asyncio.create_task(exporter.run(exporter.path))
    try:
        await asyncio.sleep(0.2)
        assert faults.counts["metrics textfile write"] == 1  # no directory yet: counted, the task goes on
        assert not task.done()
        directory.mkdir()
        current = {**status(), "bond": {**status()["bond"], "active_slave": B}}
        exporter.changed()  # an event: written now, not at the next interval an hour away
        for _ in range(50):
            await asyncio.sleep(0.05)
            if exporter.path.exists():
                break
        found = samples(exporter.path.read_text())
        assert value(found, "vfbond_active", bond="bond0", slave=B, label="sriov1") == 1
        assert [p.name for p in directory.iterdir()] == ["vfbond_bond0.prom"]  # no temporary file left
    finally:
        task.cancel()


async def test_the_http_endpoint_serves_the_metrics_read_on_the_loop() -> None:
    port = free_port()
    exporter = Exporter(MetricsConfig(http_port=port), "bond0", status, Faults())
    exporter.start()
    try:
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
                                       .read().decode())
        assert value(samples(body), "vfbond_info", bond="bond0", version="0.1.0", backend="nm") == 1
        assert "process_cpu_seconds_total" not in body  # vfbond's own registry, nothing else
    finally:
        await exporter.close()


def test_a_port_in_use_is_a_fault_not_a_crash() -> None:
    async def main() -> Faults:
        faults = Faults()
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            Exporter(MetricsConfig(http_port=taken.getsockname()[1]), "bond0", status, faults).start()
        return faults

    assert asyncio.run(main()).counts["metrics http endpoint"] == 1


CONFIG = "bond:\n  slaves: [{name: a}, {name: b}]\n"


def test_metrics_are_off_by_default_and_the_section_is_validated_with_line_and_fix() -> None:
    assert not config_mod.parse(CONFIG).metrics.enabled
    on = config_mod.parse(CONFIG + "metrics: {textfile_dir: /var/lib/node_exporter/textfile_collector}\n").metrics
    assert on.enabled and on.interval_s == 15 and on.http_port is None and on.http_address == "127.0.0.1"
    bad = CONFIG + "metrics:\n  textfile_dir: textfiles\n  interval_s: 0\n  http_port: 70000\n  http_address: x\n"
    try:
        config_mod.parse(bad, "t.yaml")
    except config_mod.ConfigError as exc:
        found = [str(p) for p in exc.problems]
    assert [p.split(":")[1:3] for p in found] == [
        ["4", " metrics.textfile_dir"], ["5", " metrics.interval_s"], ["6", " metrics.http_port"],
        ["7", " metrics.http_address"]]
    assert all(". Fix: " in p for p in found)


def test_a_reload_changing_metrics_says_it_needs_a_restart() -> None:
    old = config_mod.parse(CONFIG)
    new = config_mod.parse(CONFIG + "metrics: {http_port: 9862}\n")
    assert restart_needed(old, new) == ["metrics.http_port"]


def test_vfbondd_without_metrics_does_not_load_prometheus_client() -> None:
    code = "import sys, vfbond.daemon; print('prometheus_client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


async def test_the_writer_stops_when_cancelled_even_as_an_event_arrives(tmp_path: Path) -> None:
    """Python 3.11's wait_for swallows a cancel that meets its future's completion: vfbondd hung on stop."""
    exporter = Exporter(MetricsConfig(textfile_dir=str(tmp_path), interval_s=3600), "bond0", status, Faults())
    assert exporter.path is not None
    task = asyncio.create_task(exporter.run(exporter.path))
    while not exporter.path.exists():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # back to waiting for a change
    exporter.changed()  # the "vfbondd stopped" event, recorded in the same step as the cancel
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert task in done and task.cancelled()


def test_maintenance_repairs_and_the_event_loops_lag() -> None:
    st = status(reconcile={"paused": {"reason": "CHG-42", "since": 1.0, "until": None}, "drift_while_paused": None,
                           "waiting_for": None, "repairs": 3, "last_repair": None, "applying": False},
                loop_lag={"p50_ms": 0.4, "p99_ms": 12.0, "max_ms": 2100.0, "worst_ms": 2100.0, "window_s": 60})
    found = samples(render(st))
    assert value(found, "vfbond_paused", bond="bond0") == 1.0
    assert value(found, "vfbond_repairs_total", bond="bond0") == 3.0
    assert value(found, "vfbond_loop_lag_p99_seconds", bond="bond0") == 0.012
    assert value(found, "vfbond_loop_lag_max_seconds", bond="bond0") == 2.1
    assert value(samples(render(status())), "vfbond_paused", bond="bond0") == 0.0  # an older vfbondd: not paused


def test_failover_checks_by_result_and_a_mac_locked_vf() -> None:
    st = status(counters={**status()["counters"], "checks": {"verified": 4, "unverified": 1,
                                                             "peers_not_notified": 0}})
    found = samples(render(st))
    assert value(found, "vfbond_failover_checks_total", bond="bond0", result="unverified") == 1
    assert value(found, "vfbond_failover_checks_total", bond="bond0", result="peers_not_notified") == 0  # from 0
    st["vf"] = {"slaves": {B: {"mac_lock": {"state": "locked"}}}}
    found = samples(render(st))
    assert value(found, "vfbond_slave_mac_locked", bond="bond0", slave=B, label="sriov1") == 1
    assert value(found, "vfbond_slave_mac_locked", bond="bond0", slave=A, label="sriov0") == 0
    assert value(found, "vfbond_fail_over_mac_active", bond="bond0") == 1
