"""Move counters: causes read from the texts the supervisor really writes; counts survive a restart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.unit.test_transitions import VF0, VF1, bond
from vfbond.judge import policy
from vfbond.judge.flap import FlapLimiter
from vfbond.judge.transitions import derive
from vfbond.report.counters import Counters, cause_of
from vfbond.report.history import History
from vfbond.report.reporter import Reporter
from vfbond.shared.events import Event, EventType
from vfbond.shared.faults import Faults


def test_each_cause_the_supervisor_writes_is_named() -> None:
    def decided(verdicts: dict[str, str], active: str = "vf0") -> str:
        return policy.decide(active, verdicts, "vf0", "always").reason

    assert cause_of(decided({"vf0": "path_down", "vf1": "up"})) == "path_failure"
    assert cause_of(decided({"vf0": "down", "vf1": "up"}) + " (event-driven, 2.1 ms after the event)") == "carrier_loss"
    assert cause_of(decided({"vf0": "missing", "vf1": "up"})) == "slave_missing"
    assert cause_of(decided({"vf0": "up", "vf1": "up"}, active="vf1")) == "primary_back"
    down = bond("vf1", replace(VF0, mii_status="down"), VF1)
    assert cause_of(derive(bond("vf0", VF0, VF1), down, "bond0", "vf0")[1].reason) == "carrier_loss"
    assert cause_of(derive(bond("vf0", VF0, VF1), bond("vf1", VF1), "bond0", "vf0")[-2].reason) == "slave_missing"
    assert cause_of(derive(bond("vf0", VF0, VF1), bond("vf1", VF0, VF1), "bond0", "vf0")[0].reason) == "kernel"
    assert cause_of("simulate-failover (bondctl)") == "manual"
    assert cause_of("something new") == "other"


def test_counts_survive_a_restart_and_count_events_held_back_from_alerts(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    reporter = Reporter(History(path), lambda e: None, FlapLimiter(1, clock=lambda: 0.0), Faults())
    for i in range(3):  # the limit of 1 holds back the second and third alerts, not the counts
        reporter.emit(Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1",
                            reason="carrier loss on vf0", time=100.0 + i))
    reporter.emit(Event(EventType.FAILBACK, "bond0", old_active="vf1", new_active="vf0",
                        reason="primary vf0 healthy again (primary_reselect=always)", time=200.0))
    reporter.emit(Event(EventType.SLAVE_DOWN, "bond0", slave="vf0", time=201.0))

    restarted = Reporter(History(path), lambda e: None, FlapLimiter(10), Faults()).counters.to_dict()
    assert (restarted["failovers"], restarted["failbacks"]) == (3, 1)
    assert {"type": "failover", "from": "vf0", "to": "vf1", "cause": "carrier_loss", "count": 3} in restarted["moves"]
    assert restarted["last_move"]["type"] == "failback" and restarted["last_move"]["cause"] == "primary_back"
    assert restarted["last_move"]["time"] == 200.0


def test_degraded_and_isolated_spells_start_at_their_first_event_and_end_when_restored() -> None:
    counters = Counters()
    counters.seed([Event(EventType.BOND_DEGRADED, "bond0", time=10.0),
                   Event(EventType.BOND_ISOLATED, "bond0", time=20.0),
                   Event(EventType.BOND_ISOLATED, "bond0", time=25.0)])  # probes and MII both said so
    assert (counters.degraded_since, counters.isolated_since) == (10.0, 20.0)
    counters.count(Event(EventType.BOND_DEGRADED, "bond0", time=30.0))  # one slave back: no longer isolated
    assert (counters.degraded_since, counters.isolated_since) == (10.0, None)
    counters.count(Event(EventType.BOND_RESTORED, "bond0", time=40.0))
    assert counters.to_dict()["degraded_since"] is None and counters.to_dict()["isolated_since"] is None
