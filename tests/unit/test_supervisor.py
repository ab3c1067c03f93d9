"""Supervisor decisions on plain data: the executor is a fake that records what it was told to do."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import Future
from dataclasses import replace

from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from tests.unit.test_fastswitch import Immediate
from vfbond.config import Config, parse
from vfbond.judge.carriers import OTHERS_KEPT
from vfbond.judge.flap import FlapLimiter
from vfbond.kernel.bond_state import BondState, LinkInfo, SlaveState
from vfbond.kernel.fastswitch import Answer, FastSwitch, Switched
from vfbond.report.history import History
from vfbond.report.reporter import Reporter
from vfbond.shared.events import Event, EventType
from vfbond.shared.faults import Faults
from vfbond.shared.status import Verdict
from vfbond.supervise.supervisor import Supervisor
from vfbond.watch.links import LinkEvent, Overrun

MAC0, MAC1 = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02"
CONFIG = f"""
bond:
  slaves:
    - {{label: sriov0, mac: "{MAC0}"}}
    - {{label: sriov1, mac: "{MAC1}"}}
  miimon: 100
  primary: sriov0
  primary_reselect: always
  {{extra}}
backend: netlink
"""


def config(extra: str = "") -> Config:
    return parse(CONFIG.replace("{extra}", extra))


def link(name: str, mac: str, index: int, carrier: bool = True) -> LinkInfo:
    return LinkInfo(index=index, name=name, mac=mac, perm_mac=mac, kind="veth", master=9, carrier=carrier,
                    operstate="UP" if carrier else "DOWN", mtu=1500)


def bond(active: str | None, up0: bool = True, up1: bool = True, mii0: bool | None = None,
         mii1: bool | None = None) -> BondState:
    mii0 = up0 if mii0 is None else mii0
    mii1 = up1 if mii1 is None else mii1
    slaves = [SlaveState(link(n, m, i, up), "active" if n == active else "backup", "up" if mii else "down", 0, m)
              for n, m, i, up, mii in (("vf0", MAC0, 1, up0, mii0), ("vf1", MAC1, 2, up1, mii1))]
    return BondState(link=link("bond0", MAC0, 9), mode="active-backup", active_slave=active, miimon=100,
                     updelay=0, downdelay=0, fail_over_mac="active", primary="vf0", primary_reselect="always",
                     arp_interval=0, arp_ip_targets=[], num_peer_notif=1, slaves=slaves)


class FakeExecutor:
    """Plays the kernel: each action moves `state` and reports the change like the real executor."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.state: BondState | None = None
        self.read_at = float("-inf")
        self.kernel: BondState | None = None  # what the next read returns
        self.switches: list[tuple[str, str]] = []
        self.bond = "bond0"
        self.lock = asyncio.Lock()
        self.reading = False

    def read(self, kernel: BondState | None, reason: str = "") -> None:
        self.kernel = kernel
        prev, self.state, self.read_at = self.state, kernel, time.monotonic()
        self.sup._changed(prev, kernel, reason)

    async def refresh(self, reason: str = "", since: float | None = None) -> BondState | None:
        self.read(self.kernel, reason)
        return self.state

    async def switch(self, target: str, reason: str) -> None:
        self.switches.append((target, reason))
        assert self.kernel is not None
        moved = replace(self.kernel, active_slave=target)
        self.read(moved, reason)


def supervisor(cfg: Config | None = None, started: bool = True, check: RecordingCheck | None = None,
               fastswitch: FastSwitch | None = None) -> tuple[Supervisor, FakeExecutor, list[Event]]:
    published: list[Event] = []
    faults = Faults()
    reporter = Reporter(History(None), published.append, FlapLimiter(10), faults)
    sup = Supervisor(cfg or config(), None, reporter, faults, check=check, fastswitch=fastswitch)  # type: ignore[arg-type]
    fake = FakeExecutor(sup)
    sup.executor = fake  # type: ignore[assignment]
    if started:
        fake.read(bond("vf0"))
        published.clear()
    return sup, fake, published


def event(name: str, carrier: bool, at: float, index: int | None = None) -> LinkEvent:
    return LinkEvent(gone=False, index=index or {"vf0": 1, "vf1": 2}[name], name=name,
                     mac={"vf0": MAC0, "vf1": MAC1}[name], carrier=carrier, operstate="UP" if carrier else "DOWN",
                     master=9, kind="veth", at=at)


async def test_a_carrier_loss_received_before_the_last_read_does_not_switch() -> None:
    """Enslaving drops carrier for a moment; the read after the apply already shows it back."""
    sup, fake, published = supervisor()
    stale = event("vf0", False, at=fake.read_at - 0.5)
    await sup.on_link(stale)
    assert fake.switches == [] and fake.state is not None and fake.state.active_slave == "vf0"
    assert published == []


async def test_an_older_carrier_loss_that_the_last_read_confirms_still_takes_the_fast_path() -> None:
    """Another message's refresh may run before this event is handled: the read agrees, so act now."""
    sup, fake, published = supervisor()
    at = time.monotonic()
    fake.read(bond("vf0", up0=False, mii0=True))
    await sup.on_link(event("vf0", False, at=at - 0.1))
    assert [t for t, _ in fake.switches] == ["vf1"] and "event-driven" in fake.switches[0][1]


async def test_a_fresh_carrier_loss_on_the_active_fails_over_at_once_with_its_reason() -> None:
    sup, fake, published = supervisor()
    fake.kernel = bond("vf0", up0=False, mii0=True)  # the kernel's MII poll has not seen it yet
    await sup.on_link(event("vf0", False, at=time.monotonic()))
    assert fake.switches and fake.switches[0][0] == "vf1"
    [failover] = [e for e in published if e.type is EventType.FAILOVER]
    assert "carrier loss on vf0" in failover.reason and "event-driven" in failover.reason


async def test_a_start_says_bond_up_once_and_nothing_about_carriers_settling() -> None:
    """igbvf reports link ~4 s after enslaving: no isolated/restored/failover/degraded on a start."""
    sup, fake, published = supervisor(started=False)
    fake.read(bond(None, up0=False, up1=False))  # enslaved, no carrier yet
    await sup.evaluate()
    fake.read(bond("vf0", up0=True, up1=False))
    await sup.evaluate()
    assert published == [] and sup.starting
    fake.read(bond("vf0"))
    assert [(e.type, e.reason) for e in published] == [(EventType.DAEMON, "bond0 up: active vf0, 2 of 2 slaves up")]
    fake.read(bond("vf0", up1=False))  # after the start, a real change is reported
    assert [e.type for e in published[1:]] == [EventType.SLAVE_DOWN, EventType.BOND_DEGRADED]


async def test_a_start_that_never_gets_both_slaves_up_reports_once_how_it_stands() -> None:
    sup, fake, published = supervisor(started=False)
    fake.read(bond("vf0", up1=False))
    sup.end_startup(waited=30)
    assert [e.type for e in published] == [EventType.DAEMON, EventType.BOND_DEGRADED]
    assert not sup.starting


async def test_a_start_with_no_carrier_past_the_deadline_ends_and_later_carriers_are_news() -> None:
    """Both VFs without carrier for 40 s, then vf0 up, then down: each step is reported."""
    sup, fake, published = supervisor(started=False)
    fake.read(bond(None, up0=False, up1=False))
    sup.end_startup(waited=30)
    assert not sup.starting
    assert [e.type for e in published] == [EventType.WARNING, EventType.BOND_ISOLATED]
    fake.read(bond("vf0", up0=True, up1=False))
    fake.read(bond(None, up0=False, up1=False))
    assert [e.type for e in published[2:]] == [EventType.SLAVE_UP, EventType.FAILOVER, EventType.BOND_DEGRADED,
                                               EventType.SLAVE_DOWN, EventType.BOND_ISOLATED]


def test_a_reading_that_shows_the_bond_changed_by_hand_asks_the_reconciler_and_the_apply_own_changes_do_not() -> None:
    sup, fake, published = supervisor()
    drift: list[str] = []
    sup.on_drift = drift.append
    fake.read(replace(bond("vf0"), miimon=500))
    sup.applying = lambda: True
    fake.read(replace(bond("vf0"), miimon=100))
    sup.applying = lambda: False
    fake.read(None)
    assert drift == ["bond0: miimon 100 -> 500", "bond0 is gone"]


async def test_isolation_is_reported_once_and_restored_only_on_evidence() -> None:
    sup, fake, published = supervisor()
    fake.read(bond("vf0", up0=False, up1=False))  # kernel: no slave has link
    sup.emit(Event(EventType.BOND_ISOLATED, "bond0", reason="again, from the probes"))
    assert [e.type for e in published].count(EventType.BOND_ISOLATED) == 1
    fake.read(bond("vf0", up0=False, up1=True))
    assert [e.type for e in published][-1] is EventType.BOND_DEGRADED and not sup.isolation.reported


async def test_downdelay_a_carrier_back_within_it_does_not_fail_over() -> None:
    sup, fake, _ = supervisor(config("downdelay: 200"))
    fake.kernel = bond("vf0", up0=False, mii0=True)
    await sup.on_link(event("vf0", False, at=time.monotonic()))
    await asyncio.sleep(0.05)
    fake.kernel = bond("vf0")
    await sup.on_link(event("vf0", True, at=time.monotonic()))
    await asyncio.sleep(0.3)
    assert fake.switches == []
    fake.kernel = bond("vf0", up0=False, mii0=True)
    await sup.on_link(event("vf0", False, at=time.monotonic()))
    await asyncio.sleep(0.3)
    assert [t for t, _ in fake.switches] == ["vf1"]


async def test_failback_after_a_blip_shorter_than_miimon_waits_for_updelay() -> None:
    """mode-1-recovery-updelay.sh's rule, applied where the kernel never saw the blip."""
    sup, fake, _ = supervisor(config("updelay: 300"))
    fake.kernel = bond("vf0", up0=False, mii0=True)
    await sup.on_link(event("vf0", False, at=time.monotonic()))
    assert [t for t, _ in fake.switches] == ["vf1"]
    fake.kernel = bond("vf1")
    back = time.monotonic()
    await sup.on_link(event("vf0", True, at=back))
    assert [t for t, _ in fake.switches] == ["vf1"], "failed back inside updelay"
    while len(fake.switches) < 2 and time.monotonic() - back < 2:
        await asyncio.sleep(0.02)
    assert [t for t, _ in fake.switches] == ["vf1", "vf0"]
    assert time.monotonic() - back >= 0.3


async def test_path_failure_events_carry_the_ifindex() -> None:
    sup, fake, published = supervisor()
    sup.on_verdict("sriov1", Verdict.UP, Verdict.PATH_DOWN)
    [down] = [e for e in published if e.type is EventType.SLAVE_DOWN]
    assert down.slave == "vf1" and down.details["ifindex"] == 2
    await asyncio.sleep(0)


async def test_an_overrun_is_counted_and_reads_the_bond_at_once() -> None:
    sup, fake, _ = supervisor()
    before = fake.read_at
    await sup.observe(Overrun(time.monotonic()))
    assert fake.read_at > before
    assert sup.status()["faults"]["by_kind"] == {"netlink overrun": 1}


async def test_a_failing_history_write_is_counted_and_the_alert_still_goes_out() -> None:
    class FullDisk(History):
        def append(self, event: Event) -> None:
            raise OSError(28, "No space left on device")

    published: list[Event] = []
    faults = Faults()
    reporter = Reporter(FullDisk(None), published.append, FlapLimiter(10), faults)
    reporter.emit(Event(EventType.WARNING, "bond0", reason="x"))
    assert len(published) == 1 and faults.counts["history write"] == 1


def test_a_probe_socket_that_fails_to_open_is_retried_on_the_next_sync(monkeypatch) -> None:
    from vfbond.supervise import probing as probing_mod

    opened: list[str] = []

    class FlakySocketProber:
        def __init__(self, label: str, ifname: str, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            self.ifname = ifname

        def start(self) -> None:
            opened.append(self.ifname)
            if len(opened) == 1:
                raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(probing_mod, "SlaveProber", FlakySocketProber)
    cfg = config()
    probing = probing_mod.Probing(cfg.bond, replace(cfg.probes, enabled=True, targets=("192.0.2.1",)),
                                  lambda *a: None)
    with contextlib.suppress(PermissionError):
        probing.bind("sriov0", "vf0")
    assert "sriov0" not in probing.probers
    probing.bind("sriov0", "vf0")
    assert opened == ["vf0", "vf0"] and "sriov0" in probing.probers


async def test_the_vf_drivers_link_down_line_fails_over_before_the_netlink_event() -> None:
    """A real NIC's carrier-off reaches netlink through linkwatch, up to a second late; the VF driver
    logs 'Link is Down' as it drops carrier, and that line is enough to act on."""
    sup, fake, published = supervisor()
    fake.kernel = bond("vf0", up0=False, mii0=True)
    sup.fast.carrier_lost("vf0", time.monotonic(), "igbvf: Link is Down")
    await asyncio.sleep(0)
    await asyncio.gather(*sup._tasks)
    assert [t for t, _ in fake.switches] == ["vf1"]
    [failover] = [e for e in published if e.type is EventType.FAILOVER]
    assert "igbvf: Link is Down" in failover.reason
    # the netlink event that follows finds the bond already moved: no second switch
    await sup.on_link(event("vf0", False, at=time.monotonic()))
    assert [t for t, _ in fake.switches] == ["vf1"]


async def test_a_link_down_line_about_the_backup_or_an_old_one_does_nothing() -> None:
    """Nothing switched, published, noted or faulted: a spawned task's exception is contained and
    counted, so only the fault count shows one."""
    sup, fake, published = supervisor()
    before = {name: sup.carriers.is_up(name) for name in ("vf0", "vf1")}
    sup.fast.carrier_lost("vf1", time.monotonic(), "igbvf: Link is Down")
    sup.fast.carrier_lost("vf0", fake.read_at - 1, "igbvf: Link is Down")  # older than what the bond shows
    await asyncio.sleep(0)
    await asyncio.gather(*sup._tasks)
    assert fake.switches == [] and published == []
    assert {name: sup.carriers.is_up(name) for name in ("vf0", "vf1")} == before
    assert sup.faults.snapshot()["total"] == 0


async def test_a_read_older_than_a_carrier_event_does_not_undo_it() -> None:
    """A read begun before the carrier came back must not make vf0 look down again (downdelay)."""
    sup, fake, _ = supervisor(config("downdelay: 200"))
    fake.kernel = bond("vf0", up0=False, mii0=True)
    await sup.on_link(event("vf0", False, at=time.monotonic()))
    fake.kernel = bond("vf0")
    back = time.monotonic()
    await sup.on_link(event("vf0", True, at=back))
    fake.read_at = back - 0.01  # a read that began before the event, finishing after it
    sup._changed(fake.state, bond("vf0", up0=False, mii0=True), "")
    await asyncio.sleep(0.3)
    assert fake.switches == []


async def test_a_carrier_back_before_the_kernel_ends_its_downdelay_is_up() -> None:
    """MII still 'fail' (the kernel's downdelay) with carrier back: in service, no failover."""
    sup, fake, _ = supervisor(config("downdelay: 3000"))
    failing = bond("vf0")
    failing.slaves[0].mii_status = "fail"
    fake.read(failing)
    assert sup.verdicts() == {"vf0": "up", "vf1": "up"}
    await sup.evaluate()
    assert fake.switches == []


async def test_a_flood_of_container_veths_does_not_make_the_supervisor_forget_a_slave_in_downdelay() -> None:
    sup, fake, _ = supervisor(config("downdelay: 3000"))
    fake.kernel = bond("vf0", up0=False, mii0=True)
    fake.read(fake.kernel)  # vf0's carrier is gone; the kernel keeps it in service for downdelay
    for n in range(OTHERS_KEPT + 1):
        await sup.on_link(replace(event("vf1", True, at=time.monotonic(), index=100 + n), name=f"veth{n}",
                                  mac="02:00:00:00:00:01", master=None))
    assert sup.verdicts() == {"vf0": "up", "vf1": "up"}
    await sup.evaluate()
    assert fake.switches == []


class RecordingCheck:
    """Stands in for supervise/verify.py's FailoverCheck: what the supervisor hands it, and when."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, EventType | None, str | None, float]] = []

    def on_read(self, state: BondState | None, moved: Event | None, config: Config, since: float) -> None:
        self.calls.append((state.active_slave if state else None, moved.type if moved else None,
                           moved.new_active if moved else None, since))


async def test_every_move_of_the_active_slave_is_handed_to_the_check_after_the_switch() -> None:
    check = RecordingCheck()
    sup, fake, published = supervisor(check=check)
    fake.kernel = bond("vf0", up0=False, mii0=True)
    await sup.on_link(event("vf0", False, at=time.monotonic()))
    moves = [c for c in check.calls if c[1] is not None]
    assert moves == [("vf1", EventType.FAILOVER, "vf1", moves[0][3])]
    assert fake.switches and 0 < moves[0][3] <= fake.read_at  # stamped by the read that saw the switch
    assert all(c[1] is None for c in check.calls if c not in moves)  # every other read only keeps the counters
    fake.read(bond("vf0"))  # failback onto the primary
    assert check.calls[-1][1:3] == (EventType.FAILBACK, "vf0")


def test_reads_during_the_start_only_keep_the_counters() -> None:
    check = RecordingCheck()
    sup, fake, _ = supervisor(started=False, check=check)
    fake.read(bond(None, up0=False, up1=False))
    fake.read(bond("vf0"))
    assert [c[1] for c in check.calls] == [None, None]


class Fired(FastSwitch):
    """The real arming and scan; the request is counted instead of sent, in place of the sender thread."""

    def __init__(self) -> None:
        super().__init__()
        self._sender = Immediate()  # type: ignore[assignment]
        self.sent = 0

    def _send(self, request: bytes, seq: int) -> Answer:
        self.sent += 1
        return Answer(0.0, 0.0, 0)


def fast_supervisor(extra: str = "") -> tuple[Supervisor, FakeExecutor, list[Event], Fired]:
    fast = Fired()
    sup, fake, published = supervisor(config(extra), started=False, fastswitch=fast)
    fake.read(bond("vf0"))
    published.clear()
    return sup, fake, published, fast


def carrier_loss(index: int) -> bytes:
    msg = ifinfmsg()
    msg["header"]["type"] = 16  # RTM_NEWLINK
    msg["index"] = index
    msg["attrs"] = [("IFLA_IFNAME", "vf-absent"), ("IFLA_CARRIER", 0)]
    msg.encode()
    return bytes(msg.data)


async def test_after_a_read_the_switch_off_the_active_is_armed_with_its_reason() -> None:
    sup, fake, _, fast = fast_supervisor()
    assert fast.plan is not None and (fast.plan.bond, fast.plan.active, fast.plan.target) == (9, 1, 2)
    assert fast.plan.reason == "carrier loss on vf0"
    fake.read(bond("vf1", up0=False))  # vf0 gone down: a loss on vf1 has nowhere to go
    assert fast.plan is None


async def test_nothing_is_armed_with_downdelay_or_without_fast_failover() -> None:
    assert fast_supervisor("downdelay: 200")[3].plan is None
    assert fast_supervisor("\nfailover: {fast: false}")[3].plan is None


async def test_the_tap_fires_on_the_raw_message_and_the_read_back_reports_the_failover() -> None:
    sup, fake, published, fast = fast_supervisor()
    sup.applying = lambda: True
    assert sup.fast.tap(carrier_loss(1), time.monotonic()) is None  # the backend is enslaving: its blips are its own
    sup.applying = lambda: False
    switched = sup.fast.tap(carrier_loss(1), time.monotonic())
    assert switched is not None and fast.sent == 1 and switched.plan.target_name == "vf1"
    fake.kernel = replace(bond("vf0", up0=False), active_slave="vf1")  # what the kernel did
    await sup.observe(switched)
    [failover] = [e for e in published if e.type is EventType.FAILOVER]
    assert failover.new_active == "vf1" and "carrier loss on vf0 (event-driven" in failover.reason
    assert fake.switches == []  # no second request through the locked path
    await sup.on_link(event("vf0", False, at=switched.at))  # the same message, decoded: already acted on
    assert fake.switches == []


async def test_a_read_queued_ahead_of_the_switchs_read_back_still_reports_vfbondds_move() -> None:
    """The lab's full-disk case: another read (a link event's, the reconciler's) ran first after the
    armed switch, saw vf1 active with vf0 still MII up (miimon 5000), and said "kernel reselection"."""
    sup, fake, published, fast = fast_supervisor()
    switched = sup.fast.tap(carrier_loss(1), time.monotonic())
    assert switched is not None
    fake.read(replace(bond("vf0", up0=False, mii0=True), active_slave="vf1"))  # someone else's read, no reason
    await sup.observe(switched)  # the switch's own read-back comes second and sees no change
    [failover] = [e for e in published if e.type is EventType.FAILOVER]
    assert "carrier loss on vf0 (event-driven" in failover.reason, failover.reason


async def test_a_sent_switch_explains_only_the_first_read_after_it() -> None:
    """A switch the kernel refused: a later move onto the same slave is not vfbondd's armed switch."""
    sup, fake, published, fast = fast_supervisor()
    assert sup.fast.tap(carrier_loss(1), time.monotonic()) is not None
    fake.read(bond("vf0", up0=False, mii0=True))  # refused: still on vf0
    fake.read(replace(bond("vf0", up0=False, mii0=True), active_slave="vf1"))
    [failover] = [e for e in published if e.type is EventType.FAILOVER]
    assert "event-driven" not in failover.reason, failover.reason


async def test_the_tap_holds_fire_while_the_executor_is_busy() -> None:
    """The MAC-lock probe may have a trial MAC on the backup under the lock: take the locked path."""
    sup, fake, _, fast = fast_supervisor()
    async with fake.lock:
        assert sup.fast.tap(carrier_loss(1), time.monotonic()) is None
    assert fast.plan is not None and fast.sent == 0


async def test_the_tap_overtakes_a_read_and_the_move_is_explained_by_the_read_that_shows_it() -> None:
    """#19: armed during reads. The read under way began before the send: it may show vf0 still active
    (no news yet, the send is kept); the next read shows the move and gives it the switch's reason."""
    sup, fake, published, fast = fast_supervisor()
    before = fake.state
    async with fake.lock:
        fake.reading = True
        switched = sup.fast.tap(carrier_loss(1), time.monotonic())
        assert switched is not None and fast.sent == 1
        fake.read_at = switched.at - 0.001  # the overtaken read: it began before the datagram
        sup._changed(before, before, "")
        fake.reading = False
    fake.read(replace(bond("vf0", up0=False, mii0=True), active_slave="vf1"))
    [failover] = [e for e in published if e.type is EventType.FAILOVER]
    assert "carrier loss on vf0 (event-driven" in failover.reason, failover.reason


async def test_the_reason_times_the_decision_not_the_kernels_switch() -> None:
    """On igbvf the kernel holds the request ~2 s (the PF's mailbox): vfbondd acted when it sent it."""
    sup, fake, published, fast = fast_supervisor()
    assert fast.plan is not None
    fake.kernel = replace(bond("vf0", up0=False), active_slave="vf1")
    answer: Future[Answer] = Future()
    answer.set_result(Answer(sent=10.002, answered=12.0, error=0))
    await sup.observe(Switched(fast.plan, at=10.0, seen="the event", answer=answer))
    [failover] = [e for e in published if e.type is EventType.FAILOVER]
    assert "(event-driven, 2.0 ms after the event)" in failover.reason


def test_status_pairs_the_last_move_with_its_own_check_not_an_earlier_moves() -> None:
    """simulate-failover --restore then a real carrier loss: the restore's check lands after the loss."""
    sup, fake, _ = supervisor()
    moved = [Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1", time=100.0),
             Event(EventType.FAILBACK, "bond0", old_active="vf1", new_active="vf0", time=101.0),
             Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1", time=102.0)]
    for e in moved:
        sup.reporter.history.append(e)
    sup.reporter.history.append(Event(EventType.FAILOVER_VERIFIED, "bond0", new_active="vf0", time=103.0,
                                      details={"move_time": 101.0}))
    assert sup.status()["last_failover"]["time"] == 102.0 and sup.status()["last_check"] is None  # pending
    sup.reporter.history.append(Event(EventType.FAILOVER_UNVERIFIED, "bond0", new_active="vf1", time=104.0,
                                      details={"move_time": 102.0}))
    assert sup.status()["last_check"]["type"] == "failover_unverified"
