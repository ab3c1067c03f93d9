from vfbond.judge.carriers import NEVER, Carriers


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
