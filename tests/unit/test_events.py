import json
from pathlib import Path

from vfbond.events import Event, EventType, History, Severity


def test_event_round_trip_and_message() -> None:
    e = Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1", reason="carrier loss on vf0")
    assert Event.from_dict(json.loads(json.dumps(e.to_dict()))) == e
    assert e.severity is Severity.WARNING
    assert e.message() == "bond0: failover vf0 -> vf1 (carrier loss on vf0)"


def test_history_survives_restart_and_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    h = History(path, size=5)
    for i in range(23):
        h.append(Event(EventType.SLAVE_DOWN, "bond0", slave=f"vf{i}"))
    assert [e.slave for e in h.last()] == [f"vf{i}" for i in range(18, 23)]
    assert len(path.read_text().splitlines()) < 10  # compacted, never unbounded
    again = History(path, size=5)
    assert [e.slave for e in again.last()] == [f"vf{i}" for i in range(18, 23)]


def test_torn_last_line_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    h = History(path, size=10)
    h.append(Event(EventType.FAILBACK, "bond0", old_active="vf1", new_active="vf0"))
    with path.open("a") as f:
        f.write('{"type": "failo')
    assert [e.type for e in History(path, size=10).last()] == [EventType.FAILBACK]


def test_last_filters_by_type() -> None:
    h = History(None, size=10)
    h.append(Event(EventType.SLAVE_DOWN, "bond0"))
    h.append(Event(EventType.FAILOVER, "bond0"))
    h.append(Event(EventType.SLAVE_UP, "bond0"))
    assert [e.type for e in h.last(1, (EventType.FAILOVER, EventType.FAILBACK))] == [EventType.FAILOVER]
