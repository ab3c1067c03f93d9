"""The one place that acts on the running bond, under the only lock.

Each action reads the bond back and hands the two readings, with the reason the action was
taken for, to `on_change`: the reason travels with the decision that caused the change. The one
move made outside the lock, the armed switch (supervise/fastpath.py), cannot hand its reason to a read
of its own in time: any read may be the first to show it, and FastPath.explain names it there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from pyroute2.netlink.exceptions import NetlinkError

from vfbond.kernel import actions as kernel
from vfbond.kernel.bond_state import BondState, read_bond
from vfbond.kernel.rtnl import Rtnl

OnChange = Callable[[BondState | None, BondState | None, str], None]  # before, after, reason


class Executor:
    def __init__(self, bond: str, ipr: Rtnl, on_change: OnChange,
                 quiet: Callable[[], Awaitable[None]] | None = None,
                 read_gate: Callable[[], Awaitable[None]] | None = None) -> None:
        self.bond = bond
        self.ipr = ipr
        self.on_change = on_change
        # Awaited before each request: until the kernel has answered the armed switch (a second on an
        # igbvf PF reset), a read could show the bond halfway through it; no decision is made on that.
        self.quiet = quiet
        self.read_gate = read_gate  # awaited inside a read, the lock held: test hooks only (the lab holds a read)
        # The lock is held by a read only: the armed switch may overtake it, as nothing a read does is
        # left half done by a switch (an action on the VFs may be: the MAC-lock probe's trial MAC).
        self.reading = False
        self.state: BondState | None = None
        # time.monotonic() when the read behind `state` began: a link event received before it
        # is already reflected in `state`.
        self.read_at = float("-inf")
        self._lock = asyncio.Lock()
        self._queued: dict[str, asyncio.Future[BondState | None]] = {}  # reason -> read not begun yet

    @property
    def lock(self) -> asyncio.Lock:
        """Held by every action on the bond and its VFs; others that touch them (the MAC-lock probe,
        a bounce) take it too, so no read sees their work half done and no dump shares the socket."""
        return self._lock

    async def refresh(self, reason: str = "", since: float | None = None) -> BondState | None:
        """Read the bond. A read still waiting for the lock will see any change made before it
        begins: callers with the same reason share it, so a burst of link events (a flapping VF)
        costs one dump, not one each. `since`: the time of the change to be seen; a read that began
        after it already shows it (the read after vfbondd's own switch, for the event of the carrier
        loss that caused it: a third of the reads on a flapping VF)."""
        if since is not None and self.read_at > since:
            return self.state
        queued = self._queued.get(reason)
        if queued is None:
            queued = self._queued[reason] = asyncio.ensure_future(self._queued_read(reason))
        return await asyncio.shield(queued)  # one caller cancelled must not cancel the others' read

    async def _queued_read(self, reason: str) -> BondState | None:
        async with self._lock:
            await self._quiet()
            del self._queued[reason]  # from here on, a new change needs a new read
            self.reading = True
            try:
                if self.read_gate is not None:
                    await self.read_gate()
                return await self._read(reason)
            finally:
                self.reading = False

    async def switch(self, target: str, reason: str) -> None:
        """Make `target` the active slave (by cached ifindex: on the fast path every round trip counts)."""
        async with self._lock:
            await self._quiet()
            state = self.state
            slave = state.slave(target) if state else None
            bond_index = state.link.index if state else await kernel.index(self.ipr, self.bond)
            slave_index = slave.link.index if slave else await kernel.index(self.ipr, target)
            await kernel.set_active_slave(self.ipr, bond_index, slave_index)
            await self._read(reason)

    async def enslave(self, index: int, reason: Callable[[str], str]) -> None:
        """Attach a returned VF, unless someone (NetworkManager) already did or it is gone again.

        By index, and the reason names it as it is now: udev may have renamed it since its event.
        """
        async with self._lock:
            await self._quiet()
            current = await read_bond(self.ipr, self.bond)
            if current is None or any(s.link.index == index for s in current.slaves):
                return
            try:
                (msg,) = tuple(await self.ipr.link("get", index=index))
            except NetlinkError:
                return  # gone again
            if msg.get("master"):
                return
            await kernel.enslave(self.ipr, self.bond, index)
            # The read below reports the return against what the kernel had: a VF released by hand and
            # taken back before any read saw it gone is news too (one slave_returned saying who did it).
            self.state = current
            await self._read(reason(msg.get("ifname") or f"ifindex {index}"))

    async def _quiet(self) -> None:
        if self.quiet is not None:
            await self.quiet()

    async def _read(self, reason: str) -> BondState | None:
        started = time.monotonic()
        cur = await read_bond(self.ipr, self.bond)
        prev, self.state, self.read_at = self.state, cur, started
        self.on_change(prev, cur, reason)
        return cur
