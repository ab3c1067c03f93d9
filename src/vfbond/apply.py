"""validate -> read current -> diff -> apply -> read back and verify (nmstate's order).

Success means the kernel, read back, matches the plan; not that a call returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyroute2 import AsyncIPRoute
from tenacity import AsyncRetrying, RetryError, retry_if_result, stop_after_delay, wait_fixed

from .backends.base import Backend, BackendError, Progress
from .config import BondConfig
from .inspect import links, read_bond
from .plan import BondPlan, Change, build, diff


@dataclass
class Outcome:
    plan: BondPlan
    changes: list[Change]  # what was different before applying; empty: nothing was touched


async def converge(backend: Backend, bond: BondConfig, ipr: AsyncIPRoute, progress: Progress,
                   verify_seconds: float = 15.0, dry_run: bool = False) -> Outcome:
    current = await read_bond(ipr, bond.name)
    plan = build(bond, await links(ipr), current)
    changes = diff(plan, current)
    if not changes or dry_run:
        return Outcome(plan, changes)
    for change in changes:
        progress(f"change {change}")
    await backend.apply(plan, current, changes, progress)
    progress("verifying: reading the bond back from the kernel")
    try:
        async for attempt in AsyncRetrying(stop=stop_after_delay(verify_seconds), wait=wait_fixed(0.2),
                                           retry=retry_if_result(bool)):
            with attempt:
                left = diff(plan, await read_bond(ipr, bond.name))
            if not attempt.retry_state.outcome.failed:
                attempt.retry_state.set_result(left)
    except RetryError:
        raise BackendError(f"{backend.name}: after applying, the kernel still differs: "
                           + "; ".join(str(c) for c in left)) from None
    return Outcome(plan, changes)
