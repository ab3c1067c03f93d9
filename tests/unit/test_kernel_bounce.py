"""The VF bounce after a PF reset: once down, it is brought up again, retried; it never leaves a VF down silently."""

from __future__ import annotations

from typing import Any

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from vfbond.kernel.actions import bounce


class Ipr:
    def __init__(self, up_failures: int) -> None:
        self.up_failures = up_failures
        self.calls: list[str] = []

    async def link(self, cmd: str, **kw: Any) -> Any:
        if cmd == "get":
            return [{"index": 7}]
        self.calls.append(kw["state"])
        if kw["state"] == "up" and self.up_failures:
            self.up_failures -= 1
            raise NetlinkError(16, "Device or resource busy")
        return []


async def test_up_is_retried_after_the_down() -> None:
    ipr = Ipr(up_failures=2)
    await bounce(ipr, "enp1s0v0", pause=0)  # type: ignore[arg-type]
    assert ipr.calls == ["down", "up", "up", "up"]


async def test_a_vf_that_will_not_come_up_is_reported_with_the_fix() -> None:
    ipr = Ipr(up_failures=5)
    with pytest.raises(NetlinkError, match=r"enp1s0v0 left down, .*Fix: ip link set enp1s0v0 up"):
        await bounce(ipr, "enp1s0v0", pause=0)  # type: ignore[arg-type]
    assert ipr.calls == ["down", "up", "up", "up"]
