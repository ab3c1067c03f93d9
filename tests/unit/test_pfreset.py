"""PF resets: carrier and kernel lines with their times in, pf_reset / recovered / one bounce out."""

from __future__ import annotations

import asyncio

from vfbond.shared.events import Event, EventType
from vfbond.supervise.pfreset import PfResetMonitor, PfResetTracker
from vfbond.watch.kmsg_rules import KernelObservation, Kind

VF = "enp1s0v0"


def line(kind: Kind, at: float, slave: str | None = VF) -> KernelObservation:
    return KernelObservation(kind, slave, "0000:01:10.0", "igbvf", f"igbvf 0000:01:10.0: {kind.value}", at)


def types(events: list[Event]) -> list[EventType]:
    return [e.type for e in events]


async def until_attempt(events: list[Event], timeout: float = 5.0) -> None:
    """Until the monitor reported its recovery attempt (polled: a loaded CI machine runs timers late)."""
    async with asyncio.timeout(timeout):
        while EventType.RECOVERY_ATTEMPT not in types(events):
            await asyncio.sleep(0.01)


def test_carrier_loss_then_pf_resetting_is_a_pf_reset_and_carrier_back_measures_the_outage() -> None:
    t = PfResetTracker("bond0", bounce_after=30)
    assert t.carrier(VF, False, 100.0) == []  # a carrier loss alone may be a cable: wait for the driver
    reset = t.kernel(line(Kind.PF_RESETTING, 102.5))
    assert types(reset) == [EventType.PF_RESET] and reset[0].slave == VF
    assert t.kernel(line(Kind.PF_RESETTING, 112.5)) == []  # reported once per outage
    back = t.carrier(VF, True, 106.2345)
    assert types(back) == [EventType.RECOVERED]
    assert back[0].details == {"outage_ms": 6234, "bounced": False}
    assert back[0].reason == "carrier back 6.2s after the PF reset"


def test_a_reset_line_shortly_before_the_loss_explains_it_and_an_old_one_does_not() -> None:
    t = PfResetTracker("bond0", bounce_after=30, window=15)
    t.kernel(line(Kind.PF_RESETTING, 90.0))
    assert types(t.carrier(VF, False, 100.0)) == [EventType.PF_RESET]
    t.carrier(VF, True, 105.0)
    assert t.carrier(VF, False, 200.0) == []  # the line of t=90 is too old for this loss


def test_a_carrier_blip_without_a_driver_line_reports_nothing_here() -> None:
    t = PfResetTracker("bond0", bounce_after=30)
    t.carrier(VF, False, 10.0)
    assert t.carrier(VF, True, 11.0) == []
    assert t.next_deadline() is None


def test_the_vf_drivers_link_down_is_the_pf_side_going_away() -> None:
    """igbvf says only 'Link is Down' when its PF is reset (lab, real igbvf VFs)."""
    t = PfResetTracker("bond0", bounce_after=30)
    t.carrier(VF, False, 10.0)
    (reset,) = t.kernel(line(Kind.LINK_DOWN, 10.1))
    assert reset.type is EventType.PF_RESET and "link is down at the PF" in reset.reason
    assert reset.details["driver_said"] == "link_down"
    (back,) = t.carrier(VF, True, 14.0)
    assert back.type is EventType.RECOVERED and back.details["outage_ms"] == 4000


def test_one_bounce_per_outage_when_carrier_stays_away() -> None:
    t = PfResetTracker("bond0", bounce_after=30)
    t.carrier(VF, False, 100.0)
    t.kernel(line(Kind.PF_RESETTING, 101.0))
    assert t.next_deadline() == 130.0
    assert t.due(129.9) == []
    assert t.due(130.0) == [VF]
    assert t.due(200.0) == [] and t.next_deadline() is None  # once
    attempt = t.bounce_event(VF, None)
    assert attempt.type is EventType.RECOVERY_ATTEMPT and "set enp1s0v0 down and up once" in attempt.reason
    assert "failed: NetlinkError" in t.bounce_event(VF, "NetlinkError: busy").reason
    back = t.carrier(VF, True, 131.5)
    assert back[0].details == {"outage_ms": 31500, "bounced": True} and "after vfbondd bounced it" in back[0].reason


def test_no_bounce_with_zero_or_without_a_pf_reset_and_a_removed_vf_ends_the_outage() -> None:
    never = PfResetTracker("bond0", bounce_after=0)
    never.carrier(VF, False, 0.0)
    never.kernel(line(Kind.PF_RESETTING, 1.0))
    assert never.next_deadline() is None and never.due(1000.0) == []
    plain = PfResetTracker("bond0", bounce_after=30)
    plain.carrier(VF, False, 0.0)  # no reset line: a cable pull is not for bouncing
    assert plain.due(1000.0) == []
    gone = PfResetTracker("bond0", bounce_after=30)
    gone.carrier(VF, False, 0.0)
    gone.kernel(line(Kind.PF_RESETTING, 1.0))
    gone.gone(VF)
    assert gone.next_deadline() is None and gone.carrier(VF, True, 5.0) == []


async def test_the_monitor_bounces_once_on_its_timer_and_reports_it() -> None:
    events: list[Event] = []
    bounced: list[str] = []

    async def bounce(slave: str) -> None:
        bounced.append(slave)

    loop = asyncio.get_running_loop()
    monitor = PfResetMonitor(PfResetTracker("bond0", bounce_after=0.2), events.append, bounce)
    now = loop.time()
    monitor.carrier(VF, False, now)
    monitor.kernel(line(Kind.PF_RESETTING, now))
    await until_attempt(events)
    assert loop.time() - now >= 0.2, "bounced before bounce_after"
    await asyncio.sleep(0.3)
    assert bounced == [VF]
    assert types(events) == [EventType.PF_RESET, EventType.RECOVERY_ATTEMPT]
    monitor.carrier(VF, True, loop.time())
    assert events[-1].type is EventType.RECOVERED and events[-1].details["bounced"] is True
    await monitor.close()


async def test_a_failing_bounce_is_reported_and_the_monitor_goes_on() -> None:
    events: list[Event] = []

    async def bounce(slave: str) -> None:
        raise OSError(16, "Device or resource busy")

    loop = asyncio.get_running_loop()
    monitor = PfResetMonitor(PfResetTracker("bond0", bounce_after=0.1), events.append, bounce)
    monitor.carrier(VF, False, loop.time())
    monitor.kernel(line(Kind.PF_RESETTING, loop.time()))
    await until_attempt(events)
    assert events[-1].type is EventType.RECOVERY_ATTEMPT and "Device or resource busy" in events[-1].reason
    await monitor.close()


def test_outages_in_progress_for_status() -> None:
    t = PfResetTracker("bond0", bounce_after=30)
    t.carrier(VF, False, 100.0)
    t.kernel(line(Kind.PF_RESETTING, 101.0))
    assert t.outages(112.25) == {VF: {"down_s": 12.2, "pf_reset": True, "bounced": False}}
