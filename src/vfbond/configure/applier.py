"""Bring the bond to the config, and keep at it until it holds.

A first apply fails for reasons that pass: the VF is probed after vfbondd starts (common at
boot), NetworkManager is still starting, a VF still carries a DHCP/SLAAC address. It is retried
with exponential backoff, and at once when a configured VF shows up or changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

from vfbond.backends.base import Backend
from vfbond.backends.choose import select_backend
from vfbond.bond_model import SlaveNotFound
from vfbond.config import Config
from vfbond.configure.apply import Outcome, apply_and_verify
from vfbond.kernel.rtnl import Rtnl

log = logging.getLogger("vfbond")

Gate = Callable[[str], Awaitable[None]]

RETRY_FIRST, RETRY_MAX = 1.0, 60.0  # seconds between attempts: 1, 2, 4, ... 60
# An attempt that makes no progress (no line, no stage) for this long waits on something that will not
# come: it is cancelled (the nm backend rolls back) and retried. Above the longest silent wait of a
# healthy attempt: NetworkManager's activation (60 s) or its rollback (60 s), its start (30 s).
STALL_S = 120.0


class Stalled(Exception):
    """An attempt made no progress for STALL_S: what it was doing last is in the message."""


class Applier:
    def __init__(self, config: Config, ipr: Rtnl, backend: Backend | None = None,
                 backend_reason: str = "", on_waiting: Callable[[str], None] = lambda _text: None,
                 gate: Gate | None = None, quiet: Callable[[], Awaitable[None]] | None = None) -> None:
        self.config = config
        self.ipr = ipr
        self.backend = backend
        self.backend_reason = backend_reason
        self.waiting: str | None = None  # what the apply waits for, for status and systemd
        self.on_waiting = on_waiting  # called when what the apply waits for changes
        self.attempts = 0
        # An attempt is changing the bond (from its first change to its read-back): nobody else should
        # enslave meanwhile. Not while it only reads and compares: the armed switch stays armed then.
        self.applying = False
        self.on_changing: Callable[[], None] | None = None  # called as an attempt makes its first change
        self.tried = asyncio.Event()  # set once the first attempt is over, whatever its outcome
        self.gate = gate  # see apply_and_verify(); test hooks only
        self._doing = ""  # the attempt's last progress line or stage, for a stalled attempt's error
        self._stall: asyncio.Timeout | None = None
        # Awaited before an attempt and each stage: until the kernel has answered an armed switch
        # (seconds on an igbvf PF reset) a read shows the bond halfway through it, which no plan or
        # verify should be judged on.
        self.quiet = quiet
        self._kick = asyncio.Event()

    async def apply(self, dry_run: bool = False) -> Outcome:
        """One attempt: choose the backend (once), plan, apply, verify; Stalled when it stops moving."""
        stall = self._stall = asyncio.timeout(STALL_S)
        self._doing = "reading the bond and the backend's state"
        try:
            async with stall:
                return await self._attempt(dry_run)
        except TimeoutError:
            if not stall.expired():
                raise  # a timeout of the backend's own, with its own message
            raise Stalled(f"no progress for {STALL_S:.0f} s after: {self._doing}; cancelled") from None
        finally:
            self._stall = None
            self.applying = False
            if not dry_run:
                self.tried.set()

    async def _attempt(self, dry_run: bool) -> Outcome:
        if self.quiet is not None:
            await self.quiet()
        if self.backend is None:
            self.backend, self.backend_reason = await select_backend(self.config, self.ipr)
            self._progress(f"backend {self.backend.name}: {self.backend_reason}")
        return await apply_and_verify(self.backend, self.config.bond, self.ipr, progress=self._progress,
                                      dry_run=dry_run, gate=self._stage)

    def _progress(self, line: str) -> None:
        log.info("%s", line)
        self._moved(line)

    def _moved(self, doing: str) -> None:
        self._doing = doing
        if self._stall is not None and not self._stall.expired():
            self._stall.reschedule(asyncio.get_running_loop().time() + STALL_S)

    async def _stage(self, stage: str) -> None:
        self._moved(f"stage {stage!r}")
        if self.quiet is not None:
            await self.quiet()
        if stage == "planned":
            self.applying = True
            if self.on_changing is not None:
                self.on_changing()
        if self.gate is not None:
            await self.gate(stage)

    async def until_applied(self, give_up: type[Exception] | None = None) -> Outcome:
        """Attempt until one succeeds; `waiting` says why meanwhile. `give_up`: an error that ends
        the attempts at once (raised) instead of waiting out a backoff."""
        retrying = AsyncRetrying(wait=wait_exponential(multiplier=RETRY_FIRST, max=RETRY_MAX),
                                 retry=retry_if_exception(lambda exc: isinstance(exc, Exception) and not (
                                     give_up is not None and isinstance(exc, give_up))),
                                 sleep=self._sleep, before_sleep=self._failed)
        async for attempt in retrying:
            with attempt:
                self._kick.clear()  # a VF showing up during this attempt still cuts the next wait short
                self.attempts += 1
                outcome = await self.apply()
        self.waiting = None
        return outcome

    def kick(self) -> None:
        """Retry now (a configured VF appeared), instead of at the end of the backoff."""
        self._kick.set()

    async def _sleep(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._kick.wait()
        except TimeoutError:
            pass

    def _failed(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        waiting = f"waiting for {exc.wanted}" if isinstance(exc, SlaveNotFound) else f"waiting to apply: {exc}"
        if waiting != self.waiting:
            self.waiting = waiting
            self.on_waiting(waiting)
        log.warning("config not applied (attempt %d, next in %.0f s or when a VF shows up): %s",
                    self.attempts, state.next_action.sleep if state.next_action else 0, exc)

    async def close(self) -> None:
        if self.backend is not None:
            await self.backend.close()
            self.backend = None
