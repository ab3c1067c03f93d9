"""read_bond's dump of the slaves: filtered by the kernel, not after decoding every link."""

from __future__ import annotations

import pytest
from pyroute2 import AsyncIPRoute

from vfbond.kernel.inspect import dump_links

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
