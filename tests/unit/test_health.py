"""Health verdicts from probe results, carrier and presence, with a hand-driven clock."""

from __future__ import annotations

import json

import pytest

from vfbond.config import ProbeConfig
from vfbond.judge.health import Health, ProbeResult, ProbeState, normalize_target
from vfbond.judge.policy import decide
from vfbond.shared.status import Verdict

GW4, GW6 = "192.0.2.1", "2001:db8::1"
CONFIG = ProbeConfig(enabled=True, targets=(GW4, GW6), interval_ms=500, timeout_ms=400, failures=3, window=4)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(clock: Clock, config: ProbeConfig = CONFIG, changes: list | None = None) -> Health:
    health = Health(["sriov0", "sriov1"], config, clock=clock,
                    on_change=(lambda *c: changes.append(c)) if changes is not None else None)
    for slave in ("sriov0", "sriov1"):
        health.set_carrier(slave, True)
    return health


def ok(slave: str, target: str = GW4, rtt: float = 0.002) -> ProbeResult:
    return ProbeResult(slave, target, True, rtt)


def miss(slave: str, target: str = GW4) -> ProbeResult:
    return ProbeResult(slave, target, False)


def test_unknown_until_a_target_answers_then_up(clock: Clock) -> None:
    health = make(clock)
    assert health.verdict("sriov0") is Verdict.UNKNOWN
    health.record(miss("sriov0"))
    health.record(miss("sriov0"))
    assert health.verdict("sriov0") is Verdict.UNKNOWN  # 2 < failures: not proven dead either
    health.record(ok("sriov0"))
    assert health.verdict("sriov0") is Verdict.UP


def test_consecutive_misses_on_every_target_mean_path_down(clock: Clock) -> None:
    health = make(clock)
    for target in (GW4, GW6):
        health.record(ok("sriov0", target))
    for _ in range(2):
        health.record(miss("sriov0", GW4))
        health.record(miss("sriov0", GW6))
    assert health.verdict("sriov0") is Verdict.UP  # 2 misses in a row: still under the threshold
    health.record(miss("sriov0", GW4))
    assert health.verdict("sriov0") is Verdict.UP  # IPv6 gateway still answers
    health.record(miss("sriov0", GW6))
    assert health.probe_state("sriov0") is ProbeState.UNHEALTHY
    assert health.verdict("sriov0") is Verdict.PATH_DOWN
    health.record(ok("sriov0", GW6))
    assert health.verdict("sriov0") is Verdict.UP


def test_a_reply_breaks_the_run_of_misses(clock: Clock) -> None:
    health = make(clock, ProbeConfig(enabled=True, targets=(GW4,), failures=3))
    for result in (ok, miss, miss, ok, miss, miss):
        health.record(result("sriov0"))
    assert health.verdict("sriov0") is Verdict.UP


def test_carrier_and_presence_override_probes(clock: Clock) -> None:
    health = make(clock)
    health.record(ok("sriov0"))
    health.set_carrier("sriov0", False)
    assert health.verdict("sriov0") is Verdict.DOWN
    health.set_present("sriov0", False)
    assert health.verdict("sriov0") is Verdict.MISSING
    health.set_present("sriov0", True)
    assert health.verdict("sriov0") is Verdict.DOWN


def test_carrier_return_forgets_old_misses(clock: Clock) -> None:
    health = make(clock, ProbeConfig(enabled=True, targets=(GW4,), failures=2))
    for result in (ok, miss, miss):
        health.record(result("sriov0"))
    assert health.verdict("sriov0") is Verdict.PATH_DOWN
    health.set_carrier("sriov0", False)
    health.set_carrier("sriov0", True)
    assert health.verdict("sriov0") is Verdict.UNKNOWN  # neither the old misses nor the old reply count
    health.record(ok("sriov0"))
    assert health.verdict("sriov0") is Verdict.UP


def test_return_after_missing_must_be_proven_again(clock: Clock) -> None:
    health = make(clock)
    health.record(ok("sriov1"))
    health.set_present("sriov1", False)
    health.set_present("sriov1", True)
    assert health.verdict("sriov1") is Verdict.UNKNOWN


def test_no_carrier_report_yet_is_unknown_and_disabled_probes_trust_carrier(clock: Clock) -> None:
    health = Health(["sriov0"], ProbeConfig(), clock=clock)
    assert health.verdict("sriov0") is Verdict.UNKNOWN
    health.set_carrier("sriov0", True)
    assert health.verdict("sriov0") is Verdict.UP
    assert health.snapshot()["sriov0"]["probes"] == "disabled"


def test_on_change_fires_once_per_transition(clock: Clock) -> None:
    changes: list = []
    health = make(clock, ProbeConfig(enabled=True, targets=(GW4,), failures=2), changes)
    changes.clear()
    for result in (ok, ok, miss, miss, miss, ok):
        health.record(result("sriov0"))
    assert changes == [("sriov0", Verdict.UNKNOWN, Verdict.UP), ("sriov0", Verdict.UP, Verdict.PATH_DOWN),
                       ("sriov0", Verdict.PATH_DOWN, Verdict.UP)]


def test_snapshot_rtt_loss_and_reply_age(clock: Clock) -> None:
    health = make(clock)  # window=4
    for result in (ok("sriov0", rtt=0.010), miss("sriov0"), ok("sriov0", rtt=0.001),
                   ok("sriov0", rtt=0.003), ok("sriov0", rtt=0.002)):
        health.record(result)
        clock.now += 0.5
    snap = health.snapshot()
    json.dumps(snap)  # plain types only: it goes straight to `bondctl status --json`
    slave = snap["sriov0"]
    gw4 = slave["targets"][GW4]
    # The window keeps the last 4 probes: miss, 1 ms, 3 ms, 2 ms.
    assert gw4["loss_pct"] == 25.0 and gw4["probes_in_window"] == 4
    assert gw4["rtt_avg_ms"] == pytest.approx(2.0) and gw4["rtt_last_ms"] == pytest.approx(2.0)
    assert gw4["last_reply_age_s"] == pytest.approx(0.5)
    assert gw4["state"] == "healthy" and gw4["consecutive_failures"] == 0
    assert slave["targets"][GW6]["probes_in_window"] == 0 and slave["targets"][GW6]["loss_pct"] is None
    assert slave["verdict"] == "up" and slave["probes"] == "healthy"
    assert slave["present"] is True and slave["carrier"] is True and slave["loss_pct"] == 25.0
    assert snap["sriov1"]["verdict"] == "unknown" and snap["sriov1"]["last_reply_age_s"] is None


def test_slave_figures_combine_targets(clock: Clock) -> None:
    health = make(clock)
    health.record(ok("sriov0", GW4, rtt=0.004))
    clock.now += 1
    health.record(ok("sriov0", GW6, rtt=0.002))
    health.record(miss("sriov0", GW6))
    clock.now += 1
    slave = health.snapshot()["sriov0"]
    assert slave["rtt_last_ms"] == pytest.approx(2.0)  # the most recent reply, whichever target
    assert slave["rtt_avg_ms"] == pytest.approx(3.0)
    assert slave["last_reply_age_s"] == pytest.approx(1.0)
    assert slave["loss_pct"] == pytest.approx(33.3)


def test_verdicts_feed_the_policy(clock: Clock) -> None:
    health = make(clock, ProbeConfig(enabled=True, targets=(GW4,), failures=1))
    health.record(miss("sriov0"))
    health.record(ok("sriov1"))
    assert health.verdicts() == {"sriov0": "path_down", "sriov1": "up"}
    assert decide("sriov0", health.verdicts(), "sriov0", "always").switch_to == "sriov1"


def test_targets_match_whatever_spelling_the_config_used(clock: Clock) -> None:
    health = make(clock, ProbeConfig(enabled=True, targets=("2001:DB8:0::0001",)))
    health.record(ok("sriov0", normalize_target("2001:db8::1")))
    assert health.verdict("sriov0") is Verdict.UP
    assert normalize_target("fe80::1%eth0") == "fe80::1"
