"""simulate-failover's proof on an IPv6-only bond: its Neighbor Solicitation stream, answered by a real
kernel's gateway address in a switch namespace the test makes (no traffic leaves it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from pyroute2.netns import popns, pushns

from vfbond.supervise.simulate import _ProbeStream
from vfbond.watch import ndisc
from vfbond.watch.probe_socket import open_packet_socket

from .conftest import sh

pytestmark = pytest.mark.host

GW6 = "2001:db8::1"


@pytest.fixture
def guest(netns: Callable[[], str]) -> Iterator[str]:
    """A guest namespace whose p0 is wired to a switch namespace owning GW6; the test runs inside guest."""
    guest, switch = netns(), netns()
    sh(f"ip -n {guest} link add p0 address 02:00:5e:00:0c:00 type veth peer name sw0 netns {switch}")
    sh(f"ip -n {switch} addr add {GW6}/64 dev sw0 nodad")
    sh(f"ip -n {switch} link set sw0 up")
    sh(f"ip -n {guest} link set p0 up")
    pushns(guest)
    try:
        yield guest
    finally:
        popns()


def test_the_gateway_answers_the_solicitation_stream(guest: str) -> None:
    async def run() -> tuple[int, int]:
        stream = _ProbeStream(open_packet_socket("p0", ndisc.ETH_P_IPV6, ndisc.FILTER), GW6, None)
        await stream.start()
        stream.switched = True  # as after the switch: the next answer proves the path
        try:
            async with asyncio.timeout(5):
                await stream.answered.wait()
        finally:
            await stream.close()
        return stream.sent, stream.received

    sent, received = asyncio.run(run())
    assert sent >= 1 and received >= 1
