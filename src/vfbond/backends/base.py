"""The one interface every configuration backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from vfbond.bond_model import BondPlan, Change
from vfbond.kernel.bond_state import BondState

Progress = Callable[[str], None]


class BackendError(Exception):
    """A backend could not do what the plan asks; the message says what and how to fix it."""


class Backend(ABC):
    """Makes the persistent configuration and the running bond match a plan.

    `apply` must be idempotent: given a plan the kernel already matches, it changes nothing.
    Callers verify by reading the kernel back (apply.apply_and_verify), never by trusting the return.
    """

    name: str
    # What the backend drives and its version ("NetworkManager 1.52.1"), for status; None: nothing versioned.
    version: str | None = None

    @abstractmethod
    async def apply(self, plan: BondPlan, current: BondState | None, changes: list[Change],
                    progress: Progress) -> None: ...

    async def pending(self, plan: BondPlan) -> list[Change]:
        """Drift the kernel cannot show (files, profiles): applied even when the kernel matches."""
        return []

    async def close(self) -> None:  # noqa: B027 - an optional hook: most backends hold nothing to release
        """Release connections (D-Bus, netlink); the default has nothing to release."""
