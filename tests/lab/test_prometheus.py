"""Prometheus metrics from a real vfbondd: the node_exporter textfile follows a carrier-loss failover,
the counters survive a restart of vfbondd (seeded from its history), the HTTP endpoint serves the
same, and Prometheus' promtool accepts the file.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import make_topology, wait_until
from prometheus_client.parser import text_string_to_metric_families
from vfbondd_lab import PROBES, LabDaemon, active

from vfbond import __version__

pytestmark = pytest.mark.lab

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def read(path: Path) -> Samples:
    return samples(path.read_text()) if path.exists() else {}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset({"bond": "bond0", **labels}.items())))


def total(found: Samples, name: str, **labels: str) -> float:
    """Summed over the labels not given (a failback's reason: the kernel's reselection or vfbondd's)."""
    want = {"bond": "bond0", **labels}.items()
    return sum(v for (n, have), v in found.items() if n == name and want <= have)


def keep(name: str, text: str) -> None:
    """Into the lab's results directory, for the notes."""
    if results := os.environ.get("VFBOND_LAB_RESULTS"):
        Path(results, name).write_text(text)


def stop(d: LabDaemon) -> float:
    """SIGTERM and the seconds vfbondd took to exit; past 60 s, SIGABRT for faulthandler's tracebacks."""
    assert d.proc is not None
    t0 = time.monotonic()
    d.proc.terminate()
    try:
        d.proc.wait(60)
    except subprocess.TimeoutExpired:
        d.proc.send_signal(signal.SIGABRT)
        d.proc.wait(30)
        pytest.fail(f"vfbondd did not stop within 60 s of SIGTERM\n{d.log_tail(200)}")
    return time.monotonic() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_textfile_follows_a_failover_and_its_counters_survive_a_restart(
        bonding: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONFAULTHANDLER", "1")  # a vfbondd that hangs on stop shows where (see stop())
    port = free_port()
    textfiles = tmp_path_factory.mktemp("textfile_collector")
    prom = textfiles / "vfbond_bond0.prom"
    d = LabDaemon(make_topology("veth").setup(), tmp_path_factory.mktemp("vfbondd"))
    try:
        v0, v1 = d.topo.vfs
        s0, s1 = {"slave": v0, "label": "sriov0"}, {"slave": v1, "label": "sriov1"}
        # interval_s long: the writes below come from events
        d.write_config(extra=PROBES + f"metrics: {{textfile_dir: {textfiles}, interval_s: 300, http_port: {port}}}\n")
        d.start()
        wait_until(lambda: value(read(prom), "vfbond_active", **s0) == 1 and
                   value(read(prom), "vfbond_slave_healthy", **s1) == 1, 30, 0.2, f"{prom} with {v0} active")
        before = read(prom)
        assert value(before, "vfbond_failovers_total", from_slave=v0, to_slave=v1, reason="carrier_loss") is None
        assert value(before, "vfbond_bond_degraded") == 0 and value(before, "vfbond_bond_isolated") == 0

        d.topo.cut_carrier(0)
        t0 = time.monotonic()
        wait_until(lambda: active() == v1, 10, 0.02, f"failover to {v1}")
        after = wait_until(lambda: (found := read(prom)) and value(found, "vfbond_active", **s1) == 1 and value(
            found, "vfbond_failovers_total", from_slave=v0, to_slave=v1, reason="carrier_loss") == 1 and found,
            20, 0.05, lambda: f"{prom}: the failover counted and {v1} active\n{d.log_tail()}")
        print(f"\n{prom.name} showed the failover {time.monotonic() - t0:.2f} s after the carrier loss "
              "(interval_s 300: written on the event)")
        assert value(after, "vfbond_active", **s0) == 0
        assert value(after, "vfbond_last_failover_timestamp_seconds") > time.time() - 60  # type: ignore[operator]
        assert value(after, "vfbond_probe_rtt_seconds_count", **s0) > 0  # type: ignore[operator]
        wait_until(lambda: value(found := read(prom), "vfbond_bond_degraded") == 1 and
                   value(found, "vfbond_slave_up", **s0) == 0, 20, 0.2, "degraded, and vf0 down at the next MII poll")
        text = prom.read_text()
        print(text)
        keep("after-failover.prom", text)
        on_backup(text, {"bond": "bond0", **s1})

        d.topo.restore_carrier(0)
        wait_until(lambda: active() == v0, 15, 0.05, f"failback to {v0}")
        wait_until(lambda: total(read(prom), "vfbond_failbacks_total", from_slave=v1, to_slave=v0) == 1, 20, 0.1,
                   f"the failback counted\n{prom.read_text()}\n{[e for e in d.events() if 'active' in str(e)]}")

        print(f"vfbondd stopped {stop(d):.1f} s after SIGTERM")
        prom.unlink()  # what comes next is the restarted vfbondd's
        d.start()
        restarted = wait_until(lambda: read(prom), 30, 0.2, f"{prom} from the restarted vfbondd")
        assert value(restarted, "vfbond_failovers_total", from_slave=v0, to_slave=v1, reason="carrier_loss") == 1
        assert total(restarted, "vfbond_failbacks_total", from_slave=v1, to_slave=v0) == 1
        assert value(restarted, "vfbond_active", **s0) == 1
        assert value(restarted, "vfbond_info", version=__version__, backend="netlink") == 1  # written once applied
        text = prom.read_text()
        print(f"--- after the restart ---\n{text}")
        keep("after-restart.prom", text)

        scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
        assert value(samples(scraped), "vfbond_failovers_total", from_slave=v0, to_slave=v1,
                     reason="carrier_loss") == 1
        assert not any(p.name != prom.name for p in textfiles.iterdir()), "a temporary file was left behind"

        promtool = shutil.which("promtool")
        if promtool:  # the guest shares the host's root: there when setup.sh installed prometheus
            done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
            print(f"promtool check metrics: exit {done.returncode} {done.stdout + done.stderr}".rstrip())
            assert done.returncode == 0 and not (done.stdout + done.stderr).strip()
        else:
            print("promtool not installed in the guest: not run")
    finally:
        d.stop()
        d.topo.teardown()


RULES = Path(__file__).resolve().parents[2] / "contrib" / "prometheus" / "vfbond.rules.yml"


def on_backup(text: str, backup: dict[str, str]) -> None:
    """The shipped VfbondOnBackup rule's expression, evaluated by promtool over the file this real
    failover wrote: it must select the backup's series (issue #23: a rule over metrics that exist)."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool not in the guest (scripts/setup.sh installs Debian's prometheus for it)"
    rules = yaml.safe_load(RULES.read_text())
    expr = next(r["expr"] for g in rules["groups"] for r in g["rules"] if r.get("alert") == "VfbondOnBackup")
    series = [{"series": smp.name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(smp.labels.items())) + "}",
               "values": f"{smp.value!r}x10"}
              for family in text_string_to_metric_families(text) for smp in family.samples]
    test = {"rule_files": [str(RULES)], "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": [
        {"expr": expr, "eval_time": "1m", "exp_samples": [{"labels": "vfbond_active{" + ",".join(
            f'{k}="{v}"' for k, v in sorted(backup.items())) + "}", "value": 1}]}]}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "on_backup.test.yml"
        path.write_text(yaml.safe_dump(test))
        done = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True)
    print(f"promtool: VfbondOnBackup's expression over the file after the failover: {done.stdout.strip()}")
    assert done.returncode == 0, done.stdout + done.stderr
