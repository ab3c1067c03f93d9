"""Faults the lab injects through the control socket (`test-fault`); VFBOND_TEST_HOOKS=1 only.

lifecycle.py imports this module only when that variable is set: a production vfbondd has no way
to break itself on request. Each hook is a seam the daemon was built with (the applier's gate,
the executor's read gate, the observer the link watch calls), never a patch of a running object.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from vfbond.watch.links import Observation

log = logging.getLogger("vfbond")

Observe = Callable[[Observation], Awaitable[None]]


class FaultHooks:
    def __init__(self) -> None:
        self._pause_apply: tuple[str, asyncio.Event] | None = None  # the stage the next apply pauses at
        self._pause_read: asyncio.Event | None = None  # the next read of the bond waits for it
        self._breaks = 0  # link events whose handler is still to raise

    async def test_fault(self, args: dict[str, Any]) -> Any:
        """`fault`: "handler" (default), the next link event's handler raises; "pause-apply", the next
        apply waits at stage `at` ("planned": before its first change, "applied": before its read-back)
        until "resume"; "pause-read", the next read of the bond waits, holding the executor's lock,
        until "resume"."""
        fault = args.get("fault", "handler")
        if fault == "pause-apply":
            at = str(args.get("at", "planned"))
            self._pause_apply = (at, asyncio.Event())
            return {"armed": f"the next apply pauses when {at} until test-fault resume"}
        if fault == "pause-read":
            self._pause_read = asyncio.Event()
            return {"armed": "the next read of the bond holds the executor's lock until test-fault resume"}
        if fault == "resume":
            for pause in (self._pause_apply[1] if self._pause_apply else None, self._pause_read):
                if pause is not None:
                    pause.set()
            return {"resumed": True}
        self._breaks += 1
        return {"armed": "the next link event's handler raises"}

    async def apply_gate(self, stage: str) -> None:
        """The applier's gate: an apply that reaches the armed stage waits there until "resume"."""
        if self._pause_apply is not None and self._pause_apply[0] == stage:
            log.warning("apply paused by the test hook: %s", stage)
            await self._pause_apply[1].wait()
            self._pause_apply = None

    async def read_gate(self) -> None:
        """The executor's read gate: the first read after "pause-read" waits there until "resume"."""
        pause = self._pause_read
        if pause is not None and not pause.is_set():
            log.warning("read of the bond paused by the test hook")
            await pause.wait()
            self._pause_read = None

    def observing(self, observe: Observe) -> Observe:
        """`observe`, except that each armed handler fault raises in its place, once."""
        async def hooked(ob: Observation) -> None:
            if self._breaks:
                self._breaks -= 1
                raise RuntimeError("fault injected by the test hook")
            await observe(ob)

        return hooked
