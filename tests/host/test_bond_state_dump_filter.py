"""read_bond against the kernel: the slaves are filtered by the kernel, and no reply is left unread
(kernel/rtnl.py drains them)."""

from __future__ import annotations

import asyncio

import pytest
from pyroute2 import AsyncIPRoute

from vfbond.kernel.bond_state import dump_links, read_bond
from vfbond.kernel.rtnl import Rtnl

from .conftest import sh

pytestmark = pytest.mark.host

NLM_F_DUMP_FILTERED = 0x20  # include/uapi/linux/netlink.h: the kernel applied the request's filter


async def test_the_slave_dump_is_filtered_by_the_kernel(netns) -> None:
    """A bridge stands in for the bond (the host has no bonding driver): IFLA_MASTER filters the same."""
    ns = netns()
    sh(f"ip -n {ns} link add br0 type bridge")
    for i in range(4):
        sh(f"ip -n {ns} link add vf{i} type veth peer name sw{i}")
    for i in range(2):
        sh(f"ip -n {ns} link set vf{i} master br0")
    async with AsyncIPRoute(netns=ns) as ipr:
        (index,) = await ipr.link_lookup(ifname="br0")
        slaves = await dump_links(ipr, master=index)
        every = await dump_links(ipr)
    assert sorted(m.get("ifname") for m in slaves) == ["vf0", "vf1"]
    assert all(m["header"]["flags"] & NLM_F_DUMP_FILTERED for m in slaves), "filtered in user space"
    assert len(every) == 10 and not any(m["header"]["flags"] & NLM_F_DUMP_FILTERED for m in every)


async def unclaimed(rtnl: Rtnl) -> int:
    """pyroute2 keeps its queue per thread: counted in Rtnl's own."""

    async def count() -> int:
        return int(rtnl._ipr.msg_queue.root.qsize())

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(count(), rtnl._loop))


async def test_repeated_reads_leave_no_unclaimed_acks_behind(netns) -> None:
    """pyroute2 stops reading a `get` at its answer; the kernel's ACK after it used to pile up in
    pyroute2's queue, one per read of the bond (vfbondd at 60 MiB after the benchmark's failovers)."""
    ns = netns()
    sh(f"ip -n {ns} link add br0 type bridge")  # read_bond gets it, finds no bond: the same get
    async with Rtnl(factory=lambda: AsyncIPRoute(netns=ns)) as rtnl:
        for _ in range(200):
            assert await read_bond(rtnl, "br0") is None
        await asyncio.sleep(0.05)  # the last ACK arrives
        left = await unclaimed(rtnl)
    assert left <= 1, f"{left} messages nobody reads"
