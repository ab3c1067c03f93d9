"""What bondctl reads: vfbondd's status, else the kernel's alone; vfbondd's events as it records them,
followed across its restarts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vfbond.ctl.render import waiting
from vfbond.shared.protocol import QUICK_TIMEOUT, CommandError, DaemonNotRunning, request
from vfbond.shared.status import EventDict, KernelStatus

# Present whenever the driver is, built in or loaded (it has parameters): without it no bond can exist.
BONDING_DRIVER = Path("/sys/module/bonding")
NO_DRIVER = "the bonding driver is not loaded"


def why_absent() -> str:
    """Why a bond is not there: the driver missing is named, since starting vfbondd would not help."""
    return "no such bond on this host" if BONDING_DRIVER.exists() else f"{NO_DRIVER}; load it: modprobe bonding"


def absent(bond: str) -> dict[str, Any]:
    """`status --json` for a bond that is not there."""
    return {"bond": None, "name": bond, "present": False, "reason": why_absent()}


def _kernel_status(bond: str) -> KernelStatus | None:
    """From sysfs: pyroute2's import alone would take most of a monitoring check's time."""
    from vfbond.judge.bond_warnings import bond_warnings
    from vfbond.kernel.sysfs_state import read_bond

    state = read_bond(bond)
    return {"bond": state.to_dict(), "warnings": bond_warnings(state)} if state else None


def gather_status(bond: str, socket: str, timeout: float | None = None) -> KernelStatus | None:
    """From vfbondd when it runs (a Status: health, events), else the kernel alone."""
    data: KernelStatus | None
    try:
        answer: KernelStatus = request(socket, "status", timeout=timeout or QUICK_TIMEOUT)
        data = {**answer, "source": "vfbondd"}
    except DaemonNotRunning:
        data = _kernel_status(bond)
        if data is None:
            return None
        data["source"] = "kernel (vfbondd not running)"
    if data.get("bond") is None and not waiting(data):
        return None
    return data


def followed(path: str, count: int, say: Callable[[str], None]) -> Iterator[EventDict]:
    """vfbondd's events as it records them, the newest `count` first, across its restarts: a
    reconnect's backlog repeats what was already handed out and is skipped. `say` hears why the
    stream paused and how many events a slow reader lost."""
    from vfbond.shared.protocol import follow

    last: EventDict | None = None  # the newest event handed out
    while True:
        try:
            for item in follow(path, "follow", {"count": count if last is None else 50}):
                if "dropped" in item:
                    say(f"{item['dropped']} events not shown (this terminal read too slowly)")
                elif last is None or (item["time"] >= last["time"] and item != last):
                    last = item
                    yield item
        except DaemonNotRunning:
            say(f"vfbondd is not running ({path}); waiting for it")
        except CommandError as exc:
            say(f"{exc}; waiting for it")
        time.sleep(1)
