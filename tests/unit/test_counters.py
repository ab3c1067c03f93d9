"""Move counters: causes read from the texts the supervisor really writes; counts survive a restart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.unit.test_transitions import VF0, VF1, bond
from vfbond.judge import policy
from vfbond.judge.flap import FlapLimiter
from vfbond.judge.transitions import derive
from vfbond.report import counters as counters_mod
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


def failover(i: int) -> Event:
    return Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1", reason="carrier loss on vf0",
                 time=100.0 + i)


def start(state: Path, faults: Faults | None = None) -> Reporter:
    """What vfbondd builds at start: a ring of 3 events, and the counts apart from it."""
    history = History(state / "events.jsonl", size=3)
    return Reporter(history, lambda e: None, FlapLimiter(100), faults or Faults(),
                    counters=Counters.open(state / "counters.json", history.last()))


def test_counts_stay_monotonic_across_a_restart_after_the_moves_left_the_event_ring(tmp_path: Path) -> None:
    reporter = start(tmp_path)
    for i in range(5):
        reporter.emit(failover(i))
    for i in range(4):  # the ring (3 events) now holds none of the moves
        reporter.emit(Event(EventType.SLAVE_DOWN, "bond0", slave="vf0", time=200.0 + i))
    restarted = start(tmp_path).counters.to_dict()
    assert restarted["failovers"] == 5
    assert restarted["last_move"]["time"] == 104.0 and restarted["last_move"]["cause"] == "carrier_loss"


def test_a_missing_file_is_seeded_from_the_history_once_then_the_file_counts(tmp_path: Path) -> None:
    history = History(tmp_path / "events.jsonl", size=10)
    for i in range(2):  # written by a vfbondd without the counters file
        history.append(failover(i))
    assert start(tmp_path).counters.total(EventType.FAILOVER) == 2
    assert (tmp_path / "counters.json").exists()
    (tmp_path / "events.jsonl").unlink()
    assert start(tmp_path).counters.total(EventType.FAILOVER) == 2


def test_a_failed_write_is_a_fault_and_the_next_move_writes_every_count(tmp_path: Path, monkeypatch) -> None:
    faults = Faults()
    reporter = start(tmp_path, faults)
    real = counters_mod.atomic_write

    def full(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(counters_mod, "atomic_write", full)
    reporter.emit(failover(0))
    assert faults.counts["move counters write"] == 1 and reporter.counters.total(EventType.FAILOVER) == 1
    monkeypatch.setattr(counters_mod, "atomic_write", real)
    reporter.emit(failover(1))
    assert Counters.open(tmp_path / "counters.json", []).total(EventType.FAILOVER) == 2


def test_an_unreadable_file_falls_back_to_the_history(tmp_path: Path) -> None:
    (tmp_path / "counters.json").write_text("{not json")
    History(tmp_path / "events.jsonl").append(failover(0))
    assert start(tmp_path).counters.total(EventType.FAILOVER) == 1


def test_failover_checks_are_counted_by_result_and_kept_in_the_file(tmp_path: Path) -> None:
    from vfbond.shared.events import Event, EventType

    path = tmp_path / "counters.json"
    first = Counters.open(path, [])
    for kind in (EventType.FAILOVER_VERIFIED, EventType.FAILOVER_UNVERIFIED, EventType.FAILOVER_UNVERIFIED,
                 EventType.PEERS_NOT_NOTIFIED):
        assert first.count(Event(kind, "bond0", new_active="vf1"))
    first.save()
    again = Counters.open(path, [])  # vfbondd restarted with an empty history: the file keeps them
    assert again.to_dict()["checks"] == {"verified": 1, "unverified": 2, "peers_not_notified": 1}
