"""validate -> read current -> diff -> apply -> read back and verify (nmstate's order).

Success means the kernel, read back, matches the plan; not that a call returned.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryError, retry_if_result, stop_after_delay, wait_fixed

from vfbond.backends.base import Backend, BackendError, Progress
from vfbond.bond_model import BondPlan, Change, PlanError, diff
from vfbond.config import BondConfig
from vfbond.configure.plan import build
from vfbond.kernel.bond_state import BondState, LinkInfo, addresses, links, read_bond
from vfbond.kernel.rtnl import Rtnl


async def _refuse_busy_slaves(plan: BondPlan, found: list[LinkInfo], current: BondState | None,
                              ipr: Rtnl) -> None:
    """Enslaving an interface in use elsewhere would cut what runs over it: refuse before touching anything."""
    by_name = {link.name: link for link in found}
    ours = {s.name for s in current.slaves} if current else set()
    for binding in plan.slaves:
        link = by_name[binding.ifname]
        if link.name in ours:
            continue
        if link.master is not None:
            master = next((other.name for other in found if other.index == link.master), str(link.master))
            raise PlanError(f"bond.slaves: {link.name} ({binding.label}) is already enslaved to {master}. "
                            f"Fix: release it (`ip link set {link.name} nomaster`) or check the MAC in the config")
        busy = await addresses(ipr, link.index)
        if busy:
            raise PlanError(f"bond.slaves: {link.name} ({binding.label}) carries {', '.join(busy)}; enslaving it "
                            f"would drop them. Fix: put the addresses under bond.ipv4/ipv6 and remove them from "
                            f"{link.name} (`ip addr flush dev {link.name}`), or check the MAC in the config")


@dataclass
class Outcome:
    plan: BondPlan
    changes: list[Change]  # what was different before applying; empty: nothing was touched


async def apply_and_verify(backend: Backend, bond: BondConfig, ipr: Rtnl, progress: Progress,
                           verify_seconds: float = 15.0, dry_run: bool = False,
                           gate: Callable[[str], Awaitable[None]] | None = None) -> Outcome:
    """`gate`: awaited with "planned" before the first change and "applied" before the read-back
    (the fault tests pause an apply there)."""
    current = await read_bond(ipr, bond.name)
    found = await links(ipr)
    plan = build(bond, found, current)
    await _refuse_busy_slaves(plan, found, current, ipr)
    changes = diff(plan, current) + await backend.pending(plan)
    if not changes or dry_run:
        return Outcome(plan, changes)
    for change in changes:
        progress(f"change {change}")
    if gate is not None:
        await gate("planned")
    await backend.apply(plan, current, changes, progress)
    if gate is not None:
        await gate("applied")
    progress("verifying: reading the bond back from the kernel")
    try:
        async for attempt in AsyncRetrying(stop=stop_after_delay(verify_seconds), wait=wait_fixed(0.2),
                                           retry=retry_if_result(bool)):
            with attempt:
                left = diff(plan, await read_bond(ipr, bond.name)) + await backend.pending(plan)
            outcome = attempt.retry_state.outcome  # set by leaving `with attempt`
            if outcome is not None and not outcome.failed:
                attempt.retry_state.set_result(left)
    except RetryError:
        raise BackendError(f"{backend.name}: after applying, the kernel still differs: "
                           + "; ".join(str(c) for c in left)) from None
    return Outcome(plan, changes)
