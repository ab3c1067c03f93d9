"""Reporter: every event reaches the history; the flap limiter only holds back alerts."""

from __future__ import annotations

from vfbond.judge.flap import FlapLimiter
from vfbond.report.history import History
from vfbond.report.reporter import Reporter
from vfbond.shared.events import Event, EventType
from vfbond.shared.faults import Faults


def test_an_event_held_back_by_the_flap_limiter_is_still_recorded_and_marked_not_alerted() -> None:
    published: list[Event] = []
    history = History(None)
    reporter = Reporter(history, published.append, FlapLimiter(2, clock=lambda: 0.0), Faults())
    for i in range(3):
        reporter.emit(Event(EventType.FAILOVER if i % 2 == 0 else EventType.FAILBACK, "bond0",
                            old_active="vf0", new_active="vf1"))
    assert [e.type for e in published] == [EventType.FAILOVER, EventType.FAILBACK]
    recorded = history.last()
    assert [e.type for e in recorded] == [EventType.FAILOVER, EventType.FAILBACK, EventType.FAILOVER]
    assert [e.details.get("alerted", True) for e in recorded] == [True, True, False]
