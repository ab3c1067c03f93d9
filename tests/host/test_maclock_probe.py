"""The MAC-lock probe on a veth in a namespace: veth accepts a MAC change, so 'not locked', and the MAC is back."""

from __future__ import annotations

import pytest
from pyroute2 import AsyncIPRoute

from vfbond.supervise.maclock import MacLock, probe

from .conftest import sh

pytestmark = pytest.mark.host

MAC = "fa:16:3e:00:00:02"


async def test_veth_accepts_a_mac_change_is_not_locked_and_gets_its_mac_back(netns) -> None:
    ns = netns()
    sh(f"ip -n {ns} link add vf1 address {MAC} type veth peer name sw1")
    sh(f"ip -n {ns} link set vf1 up && ip -n {ns} link set sw1 up")  # up: the probe runs on a live backup
    async with AsyncIPRoute(netns=ns) as ipr:
        (msg,) = tuple(await ipr.link("get", ifname="vf1"))
        verdict = await probe(ipr, "vf1", msg["index"], MAC)
        (after,) = tuple(await ipr.link("get", ifname="vf1"))
    assert verdict.state is MacLock.UNLOCKED and verdict.restore_error is None
    assert verdict.text("sriov1").startswith("sriov1: MAC not locked: accepted a MAC change")
    assert after.get("address") == MAC
