"""Netlink link events (RTM_NEWLINK / RTM_DELLINK) as a stream: no polling for MII state."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.rtnl import RTMGRP_LINK


@dataclass(frozen=True)
class LinkEvent:
    gone: bool  # RTM_DELLINK: the interface was removed (VF unplugged)
    index: int
    name: str
    mac: str
    carrier: bool
    operstate: str
    master: int | None
    kind: str | None
    at: float  # time.monotonic() when the message was read

    @classmethod
    def from_msg(cls, msg: Any, at: float) -> LinkEvent:  # a pyroute2 nlmsg (tuple paths for nested NLAs)
        return cls(
            gone=msg.get("event") == "RTM_DELLINK",
            index=msg["index"],
            name=msg.get("ifname") or "",
            mac=(msg.get("address") or "").lower(),
            carrier=bool(msg.get("carrier")),
            operstate=msg.get("operstate") or "UNKNOWN",
            master=msg.get("master"),
            kind=msg.get(("linkinfo", "kind")),
            at=at,
        )


class LinkWatcher:
    """Subscribes to the RTMGRP_LINK multicast group once and yields every link change.

    The kernel sends RTM_NEWLINK on carrier change, on bond failover (IFLA_EVENT_BONDING_FAILOVER)
    and on slave state change (NETDEV_CHANGELOWERSTATE), so one subscription sees all of them.
    """

    def __init__(self, netns: str | None = None) -> None:
        self._ipr = AsyncIPRoute(netns=netns) if netns else AsyncIPRoute()
        self._bound = False

    async def start(self) -> None:
        await self._ipr.bind(groups=RTMGRP_LINK)
        self._bound = True

    async def events(self) -> AsyncIterator[LinkEvent]:
        if not self._bound:
            await self.start()
        while True:
            async for msg in self._ipr.get():
                if msg.get("event") in ("RTM_NEWLINK", "RTM_DELLINK"):
                    yield LinkEvent.from_msg(msg, time.monotonic())

    def close(self) -> None:
        self._ipr.close()
