"""The fast-failover switch against the real kernel: its scan reads real datagrams as pyroute2 does,
and the request it fires from the link watcher's reader gets the kernel's own answer."""

from __future__ import annotations

import asyncio
import errno
import socket
import struct

import pytest
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from pyroute2.netns import popns, pushns

from vfbond.kernel.carrier_scan import carriers
from vfbond.kernel.fastswitch import FastSwitch, Plan, Switched
from vfbond.watch.links import LinkEvent, LinkWatcher

from .conftest import sh

pytestmark = pytest.mark.host

RTM_GETLINK, NLM_F_REQUEST, NLM_F_DUMP, NLMSG_DONE = 18, 0x1, 0x300, 3


def index(ns: str, name: str) -> int:
    return int(sh(f"ip -n {ns} -o link show {name}").split(":", 1)[0])


def test_the_scan_agrees_with_pyroute2_on_a_real_link_dump(netns) -> None:
    ns = netns()
    sh(f"ip -n {ns} link add vf0 type veth peer name sw0 && ip -n {ns} link add vf1 type veth peer name sw1")
    sh(f"ip -n {ns} link add d0 type veth peer name d1 && ip -n {ns} link set vf0 up && ip -n {ns} link set sw0 up "
       f"&& ip -n {ns} link set vf1 up")  # vf0 with carrier, vf1 without (sw1 down)
    pushns(ns)
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    finally:
        popns()
    with sock:
        sock.send(struct.pack("=IHHII", 32, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + bytes(16))
        seen: dict[int, bool] = {}
        decoded: dict[int, bool] = {}
        done = False
        while not done:
            data = sock.recv(1 << 16)
            msgs = list(MarshalRtnl().parse(data))
            done = any(m["header"]["type"] == NLMSG_DONE for m in msgs)
            decoded |= {m["index"]: bool(m.get("carrier")) for m in msgs if m.get("event") == "RTM_NEWLINK"}
            seen |= dict(carriers(data, range(1, 1000)))
    assert seen == decoded and len(seen) == 7  # lo, vf0, sw0, vf1, sw1, d0, d1
    assert seen[index(ns, "vf0")] and not seen[index(ns, "vf1")]


async def test_the_armed_request_leaves_from_the_reader_before_the_message_is_decoded(netns) -> None:
    """No bonding driver on the host: a veth stands in for bond0 and the kernel refuses the
    bond request with EOPNOTSUPP, its answer to this very request (matched by sequence number)."""
    ns = netns()
    for n in (0, 1):
        sh(f"ip -n {ns} link add vf{n} type veth peer name sw{n} && ip -n {ns} link set vf{n} up "
           f"&& ip -n {ns} link set sw{n} up")
    sh(f"ip -n {ns} link add bond0 type veth peer name bondp")
    fast = FastSwitch()
    pushns(ns)
    try:
        fast.open()
    finally:
        popns()
    fast.arm(Plan(index(ns, "bond0"), index(ns, "vf0"), "vf0", index(ns, "vf1"), "vf1", "carrier loss on vf0"))
    watcher = LinkWatcher(netns=ns, tap=fast.on_datagram)
    await watcher.start()
    stream = watcher.events()
    try:
        sh(f"ip -n {ns} link set sw0 down")
        async with asyncio.timeout(2):
            first = await anext(stream)  # the Switched, or vf0's carrier loss if the reader missed it
            while isinstance(first, LinkEvent) and not (first.name == "vf0" and not first.carrier):
                first = await anext(stream)  # links coming up, sw0 going down
        assert isinstance(first, Switched), first
        answer = first.answer.result(timeout=2)
        assert answer.error == errno.EOPNOTSUPP and first.plan.target_name == "vf1"
        print(f"\nrequest sent {(answer.sent - first.at) * 1e6:.0f} us after the datagram arrived, "
              f"answered {(answer.answered - first.at) * 1e6:.0f} us after")
        assert fast.plan is None  # once
    finally:
        await stream.aclose()
        watcher.close()
        fast.close()
