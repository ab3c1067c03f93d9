"""Has udev finished with a new network device?

A VF that returns (reset, re-created, hot-plugged) appears as eth0 and is renamed by udev a moment
later. Enslaving it first freezes the kernel name, since a slave is up and an up device cannot be
renamed: the VF would stay eth0 and the image's naming rules would fail. NetworkManager waits for
udev the same way; its database entry for the device is written once the rules, renames included,
have run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

UDEV_CONTROL = Path("/run/udev/control")  # udevd's socket: there is a udev to wait for
UDEV_DATA = Path("/run/udev/data")
POLL_SECONDS = 0.05  # only while a returned VF waits, never on the failover path


async def settled(ifindex: int, timeout: float = 5.0, root: Path = Path("/")) -> bool:
    """True once udev has processed the device (at once where no udev runs); False on timeout."""
    if not (root / UDEV_CONTROL.relative_to("/")).exists():
        return True
    entry = root / UDEV_DATA.relative_to("/") / f"n{ifindex}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not entry.exists():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True
