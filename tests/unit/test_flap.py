from vfbond.judge.flap import FlapLimiter
from vfbond.shared.events import Event, EventType


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def link(kind: EventType, slave: str = "vf0") -> Event:
    return Event(kind, "bond0", slave=slave)


def flap(limiter: FlapLimiter, times: int, slave: str = "vf0") -> list[Event]:
    out = []
    for i in range(times):
        out += limiter.filter(link(EventType.SLAVE_DOWN if i % 2 == 0 else EventType.SLAVE_UP, slave))
    return out


def test_events_up_to_the_limit_pass_and_the_rest_are_summarised_when_the_window_closes() -> None:
    clock = Clock()
    limiter = FlapLimiter(limit=4, window=60, clock=clock)
    passed = flap(limiter, 11)  # down, up, down, ... down: 4 pass, 7 suppressed (4 down, 3 up)
    assert [e.type for e in passed] == [EventType.SLAVE_DOWN, EventType.SLAVE_UP] * 2
    clock.now += 59.9
    assert limiter.expire() == []
    clock.now += 0.1
    [summary] = limiter.expire()
    assert summary.type is EventType.FLAP_SUMMARY
    assert (summary.bond, summary.slave) == ("bond0", "vf0")
    assert summary.details == {"suppressed": 7, "slave_down": 4, "slave_up": 3, "passed": 4,
                               "window_s": 60, "state": "down"}
    assert "7 up/down events" in summary.reason and "left down" in summary.reason
    assert limiter.expire() == []  # one summary per window


def test_the_summary_names_the_state_the_link_was_left_in() -> None:
    clock = Clock()
    limiter = FlapLimiter(limit=1, window=60, clock=clock)
    flap(limiter, 4)  # down passes; up, down, up suppressed
    clock.now += 60
    [summary] = limiter.expire()
    assert summary.details["state"] == "up"


def test_a_window_without_suppression_closes_silently_and_a_new_one_starts() -> None:
    clock = Clock()
    limiter = FlapLimiter(limit=2, window=60, clock=clock)
    assert len(flap(limiter, 2)) == 2
    clock.now += 60
    assert limiter.expire() == []
    assert len(flap(limiter, 2)) == 2  # the limit applies afresh


def test_the_summary_is_emitted_before_the_first_event_of_the_next_window() -> None:
    clock = Clock()
    limiter = FlapLimiter(limit=1, window=60, clock=clock)
    flap(limiter, 3)
    clock.now += 61
    out = limiter.filter(link(EventType.SLAVE_UP))
    assert [e.type for e in out] == [EventType.FLAP_SUMMARY, EventType.SLAVE_UP]


def test_slaves_are_limited_separately() -> None:
    clock = Clock()
    limiter = FlapLimiter(limit=2, window=60, clock=clock)
    flap(limiter, 5, "vf0")
    assert len(flap(limiter, 2, "vf1")) == 2
    clock.now += 60
    assert [e.slave for e in limiter.expire()] == ["vf0"]


def test_other_events_always_pass() -> None:
    clock = Clock()
    limiter = FlapLimiter(limit=1, window=60, clock=clock)
    flap(limiter, 5)
    failover = Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1")
    assert limiter.filter(failover) == [failover]


def test_next_expiry_tells_when_to_call_expire() -> None:
    clock = Clock()
    limiter = FlapLimiter(limit=1, window=60, clock=clock)
    assert limiter.next_expiry() is None
    flap(limiter, 1, "vf0")
    clock.now += 10
    flap(limiter, 1, "vf1")
    assert limiter.next_expiry() == 1060.0


def switch(kind: EventType, new: str) -> Event:
    return Event(kind, "bond0", old_active="vf1" if new == "vf0" else "vf0", new_active=new)


def test_failovers_and_failbacks_are_limited_per_bond_and_summarised_with_the_active_slave() -> None:
    """100 flaps a minute on the active VF must not mean 100 failover traps."""
    clock = Clock()
    limiter = FlapLimiter(limit=3, window=60, clock=clock)
    passed = []
    for i in range(10):
        passed += limiter.filter(switch(EventType.FAILOVER if i % 2 == 0 else EventType.FAILBACK,
                                        "vf1" if i % 2 == 0 else "vf0"))
    assert [e.type for e in passed] == [EventType.FAILOVER, EventType.FAILBACK, EventType.FAILOVER]
    assert len(flap(limiter, 3, "vf0")) == 3  # link events keep their own per-slave windows
    clock.now += 60
    [summary] = [e for e in limiter.expire() if e.slave is None]
    assert summary.type is EventType.FLAP_SUMMARY and summary.bond == "bond0"
    assert summary.details == {"suppressed": 7, "failover": 3, "failback": 4, "bond_degraded": 0,
                               "bond_restored": 0, "failover_verified": 0, "passed": 3, "window_s": 60,
                               "last": "failback", "active": "vf0"}
    assert "7 failover/failback/degraded/restored/check events" in summary.reason


def test_degraded_and_restored_share_the_bond_window_and_isolation_always_passes() -> None:
    clock = Clock()
    limiter = FlapLimiter(limit=2, window=60, clock=clock)
    out = []
    for _ in range(5):
        out += limiter.filter(Event(EventType.BOND_DEGRADED, "bond0"))
        out += limiter.filter(Event(EventType.BOND_RESTORED, "bond0"))
    assert [e.type for e in out] == [EventType.BOND_DEGRADED, EventType.BOND_RESTORED]
    isolated = Event(EventType.BOND_ISOLATED, "bond0")
    assert limiter.filter(isolated) == [isolated]


def test_error_checks_are_never_folded_into_a_summary_behind_ordinary_moves() -> None:
    # The one alert that says the backup does not carry traffic must arrive as itself, at once.
    limiter = FlapLimiter(limit=2, window=60, clock=Clock())
    for _ in range(5):
        limiter.filter(Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1"))
    errors = [Event(EventType.FAILOVER_UNVERIFIED, "bond0", new_active="vf1"),
              Event(EventType.PEERS_NOT_NOTIFIED, "bond0", new_active="vf1")]
    assert [out for e in errors for out in limiter.filter(e)] == errors
