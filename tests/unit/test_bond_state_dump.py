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
