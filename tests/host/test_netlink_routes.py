"""The netlink backend's default routes, in a namespace (a veth stands in for the bond: routes need no bond)."""

from __future__ import annotations

import socket

import pytest
from pyroute2 import AsyncIPRoute

from vfbond.backends.netlink import Route, _Steps, default_routes

from .conftest import sh

pytestmark = pytest.mark.host


async def test_link_local_ipv6_gateway_goes_out_of_the_bond(netns) -> None:
    """fe80::1 (what routers advertise) is on every link: only the route's device says which one."""
    ns = netns()
    sh(f"ip -n {ns} link add bond0 type veth peer name sw0 && ip -n {ns} link set bond0 up "
       f"&& ip -n {ns} link set sw0 up")
    async with AsyncIPRoute(netns=ns) as ipr:
        (index,) = await ipr.link_lookup(ifname="bond0")
        steps = _Steps(ipr, progress=lambda line: None)
        await steps._routes("bond0", index, ("fe80::1",))
        await steps._routes("bond0", index, ("fe80::1",))  # already there: nothing sent again
        routes = await default_routes(ipr)
    assert routes == [Route(socket.AF_INET6, "fe80::1", index, routes[0].priority)]
    assert steps.sent == 1
    assert "default via fe80::1 dev bond0" in sh(f"ip -n {ns} -6 route show default")
