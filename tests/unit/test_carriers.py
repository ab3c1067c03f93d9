from vfbond.judge.carriers import NEVER, OTHERS_KEPT, Carriers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_settling_lasts_updelay_from_the_carrier_coming_up() -> None:
    clock = Clock()
    carriers = Carriers(clock)
    carriers.note("vf0", True, NEVER)  # up when we first looked: settled
    carriers.note("vf1", True, 99.0)
    assert carriers.settling(2.0) == {"vf1": 101.0}
    clock.now = 101.0
    assert carriers.settling(2.0) == {}


def test_holding_down_only_inside_downdelay_and_while_the_kernel_keeps_it_in_service() -> None:
    clock = Clock()
    carriers = Carriers(clock)
    carriers.note("vf0", False, 99.5)
    assert carriers.holding_down(1.0, ["vf0"]) == {"vf0"}
    assert carriers.holding_down(1.0, []) == frozenset()
    clock.now = 100.5
    assert carriers.holding_down(1.0, ["vf0"]) == frozenset()


def test_older_news_does_not_undo_newer() -> None:
    carriers = Carriers(Clock())
    carriers.note("vf0", False, 10.0)
    carriers.note("vf0", True, 12.0)
    carriers.note("vf0", False, 11.0)  # a read begun before the carrier came back
    assert carriers.is_up("vf0")


def test_names_that_are_not_slaves_are_forgotten_beyond_a_bound_and_the_slaves_never() -> None:
    """A host whose containers' veths come and go: the memory stays bounded, updelay and downdelay hold."""
    clock = Clock()
    carriers = Carriers(clock)
    carriers.slaves_are(["vf0", "vf1"])
    carriers.note("vf0", True, NEVER)  # settled at the first look: the oldest news of all
    carriers.note("vf1", False, 99.5)
    for n in range(10_000):
        carriers.note(f"veth{n}", True, 99.0 + n / 100_000)
    up = [n for n in range(10_000) if carriers.is_up(f"veth{n}")]
    assert len(up) == OTHERS_KEPT and up[0] == 10_000 - OTHERS_KEPT  # the newest kept
    assert carriers.is_up("vf0") and carriers.holding_down(1.0, ["vf1"]) == {"vf1"}
    assert carriers.settling(2.0).keys() == {f"veth{n}" for n in up}


def test_a_slave_that_left_the_bond_is_bounded_like_any_other_name() -> None:
    carriers = Carriers(Clock())
    carriers.slaves_are(["vf0", "vf1"])
    carriers.note("vf1", True, 99.0)
    carriers.slaves_are(["vf0"])
    for n in range(OTHERS_KEPT):
        carriers.note(f"veth{n}", True, 99.5)
    assert not carriers.is_up("vf1")
