"""Link dumps on a netlink socket that vfbondd's tasks share."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from vfbond.kernel.bond_state import links


class SharedSocket:
    """Refuses the first `busy` dumps as the kernel does while another dump runs on the socket."""

    def __init__(self, busy: int, code: int = errno.EBUSY) -> None:
        self.busy, self.code, self.calls = busy, code, 0

    async def link(self, command: str, **_: Any) -> Any:
        assert command == "dump"
        self.calls += 1
        if self.calls <= self.busy:
            raise NetlinkError(self.code, "Device or resource busy")

        async def none() -> Any:
            return
            yield

        return none()


async def test_a_dump_refused_while_another_runs_is_asked_again() -> None:
    sock = SharedSocket(busy=2)
    assert await links(sock) == []  # type: ignore[arg-type]
    assert sock.calls == 3


async def test_other_errors_and_a_socket_that_stays_busy_still_raise() -> None:
    with pytest.raises(NetlinkError):
        await links(SharedSocket(busy=1, code=errno.EPERM))  # type: ignore[arg-type]
    with pytest.raises(NetlinkError):
        await links(SharedSocket(busy=1000))  # type: ignore[arg-type]


def test_a_links_speed_is_asked_once_per_carrier_change_and_its_device_once_per_ifindex(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a flapping VF an ioctl and a sysfs walk per link per read were most of a read's cost."""
    from vfbond.kernel import bond_state

    asked: list[str] = []
    monkeypatch.setattr(bond_state.ethtool, "speed", lambda name: asked.append(f"speed {name}") or 25000)
    monkeypatch.setattr(bond_state, "device", lambda name, kind: asked.append(f"device {name}")
                        or bond_state.Device("iavf", None, None, None))
    bond_state._device_of.cache_clear()
    bond_state._speed_of.cache_clear()

    def msg(index: int, changes: int, carrier: int = 1) -> dict[Any, Any]:
        return {"index": index, "ifname": "vf0", "carrier": carrier, "carrier_changes": changes}

    reads = [bond_state.link_info(m) for m in (msg(7, 4), msg(7, 4), msg(7, 5, carrier=0), msg(7, 6), msg(8, 6))]
    assert [r.speed_mbps for r in reads] == [25000, 25000, None, 25000, 25000]
    assert asked == ["device vf0", "speed vf0", "speed vf0", "device vf0", "speed vf0"]
