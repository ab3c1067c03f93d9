"""The fast-failover switch: its pre-built request, the carrier scan it fires on, and when it fires."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from vfbond.kernel.carrier_scan import RTM_NEWLINK, carriers
from vfbond.kernel.fastswitch import Answer, FastSwitch, Plan, active_slave_request

PLAN = Plan(bond=9, active=1, active_name="vf-absent0", target=2, target_name="vf-absent1",
            reason="carrier loss on vf-absent0")


def newlink(index: int, carrier: int | None, name: str = "vf0") -> bytes:
    """An RTM_NEWLINK as the kernel sends it, encoded by pyroute2 (attributes before and after IFLA_CARRIER)."""
    msg = ifinfmsg()
    msg["header"]["type"] = RTM_NEWLINK
    msg["index"] = index
    attrs = [("IFLA_IFNAME", name), ("IFLA_MTU", 1500), ("IFLA_ADDRESS", "fa:16:3e:00:00:01")]
    if carrier is not None:
        attrs.append(("IFLA_CARRIER", carrier))
    msg["attrs"] = [*attrs, ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth")]}), ("IFLA_MASTER", 9)]
    msg.encode()
    return bytes(msg.data)


def test_the_request_is_what_pyroute2_reads_as_a_bond_active_slave_change() -> None:
    [msg] = MarshalRtnl().parse(active_slave_request(bond=9, slave=2, seq=7))
    assert msg["header"]["type"] == RTM_NEWLINK and msg["header"]["sequence_number"] == 7
    assert msg["header"]["flags"] == 0x5  # NLM_F_REQUEST | NLM_F_ACK
    assert msg["index"] == 9
    assert msg.get(("linkinfo", "kind")) == "bond"
    assert msg.get(("linkinfo", "data")).get("IFLA_BOND_ACTIVE_SLAVE") == 2


def test_the_scan_reads_the_carrier_of_the_asked_links_only() -> None:
    data = newlink(5, 0, "other") + newlink(1, 0) + newlink(2, 1, "vf1") + newlink(1, None)
    assert list(carriers(data, (1, 2))) == [(1, False), (2, True)]
    assert [(m["index"], m.get("carrier")) for m in MarshalRtnl().parse(data)] == [(5, 0), (1, 0), (2, 1), (1, None)]


def test_the_scan_stops_at_a_truncated_message() -> None:
    data = newlink(1, 1) + newlink(1, 0)
    assert list(carriers(data[:-3], (1,))) == [(1, True)]


class Immediate:
    """The sender thread, run in place: the request is recorded instead of sent."""

    def submit(self, fn: Callable[..., Answer], *args: object) -> Future[Answer]:
        done: Future[Answer] = Future()
        done.set_result(fn(*args))
        return done


def armed(sent: list[bytes]) -> FastSwitch:
    fast = FastSwitch()
    fast._sender = Immediate()  # type: ignore[assignment]

    def send(request: bytes, seq: int) -> Answer:
        sent.append(request)
        return Answer(0.0, 0.0, 0)
    fast._send = send  # type: ignore[method-assign]
    fast.arm(PLAN)
    return fast


def test_it_fires_once_on_the_active_slaves_carrier_loss() -> None:
    sent: list[bytes] = []
    fast = armed(sent)
    assert fast.on_datagram(newlink(1, 1) + newlink(5, 0), at=1.0) is None and sent == []
    switched = fast.on_datagram(newlink(1, 0), at=2.0)
    assert switched is not None and switched.plan == PLAN and switched.at == 2.0 and switched.answer.result().error == 0
    [msg] = MarshalRtnl().parse(sent[0])
    assert msg["index"] == 9 and msg.get(("linkinfo", "data")).get("IFLA_BOND_ACTIVE_SLAVE") == 2
    assert fast.plan is None and fast.on_datagram(newlink(1, 0), at=3.0) is None and len(sent) == 1


def test_a_target_without_carrier_disarms_it() -> None:
    sent: list[bytes] = []
    fast = armed(sent)
    assert fast.on_datagram(newlink(2, 0) + newlink(1, 0), at=1.0) is None
    assert fast.plan is None and sent == []


def test_a_loss_that_sysfs_contradicts_is_stale_and_keeps_it_armed() -> None:
    """lo always has carrier: the message is older than the link's state now (an enslave's blip)."""
    sent: list[bytes] = []
    fast = armed(sent)
    fast.arm(replace(PLAN, active_name="lo"))
    assert fast.on_datagram(newlink(1, 0), at=1.0) is None and sent == [] and fast.plan is not None


def test_a_send_the_kernel_holds_does_not_hold_the_caller() -> None:
    """On an igbvf PF reset the kernel answers the switch seconds later: the event loop goes on meanwhile."""
    fast = FastSwitch()
    fast._sender = ThreadPoolExecutor(1)
    fast._sock = object()  # type: ignore[assignment]

    def held(request: bytes, seq: int) -> Answer:
        sent = time.monotonic()
        time.sleep(0.5)  # the kernel, under RTNL, waiting on the PF's mailbox
        return Answer(sent, time.monotonic(), 0)
    fast._send = held  # type: ignore[method-assign]
    fast.arm(PLAN)
    t0 = time.monotonic()
    switched = fast.on_datagram(newlink(1, 0), at=t0)
    assert switched is not None and time.monotonic() - t0 < 0.1
    answer = switched.answer.result(timeout=5)
    assert answer.answered - answer.sent >= 0.5
    fast._sender.shutdown()
