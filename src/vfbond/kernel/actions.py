"""The few runtime actions vfbondd takes on the kernel bond itself, whatever the backend."""

from __future__ import annotations

import asyncio
import os

from pyroute2.netlink.exceptions import NetlinkError

from vfbond.kernel.rtnl import Rtnl


async def index(ipr: Rtnl, ifname: str) -> int:
    (msg,) = tuple(await ipr.link("get", ifname=ifname))
    return int(msg["index"])


def has_carrier(ifname: str) -> bool:
    """The link's carrier now, from sysfs (no netlink round trip on the fast path); False when down
    (the read fails with EINVAL) or gone. Raw os calls: pathlib's text read was half the armed path."""
    try:
        fd = os.open(f"/sys/class/net/{ifname}/carrier", os.O_RDONLY)
    except OSError:
        return False
    try:
        return os.read(fd, 1) == b"1"
    except OSError:
        return False
    finally:
        os.close(fd)


async def set_active_slave(ipr: Rtnl, bond_index: int, slave_index: int) -> None:
    """Make the slave active now (the kernel refuses a slave whose link is not up).

    By index: on the fast-failover path every netlink round trip is time the bond is down.
    """
    await ipr.link("set", index=bond_index, kind="bond", bond_active_slave=slave_index)


async def enslave(ipr: Rtnl, bond: str, slave_index: int) -> None:
    """Attach a (returned) VF to the bond; the kernel wants it down while it is enslaved.

    By index: the VF's name may have changed since its event (udev renames returning VFs).
    """
    await ipr.link("set", index=slave_index, state="down")
    await ipr.link("set", index=slave_index, master=await index(ipr, bond))
    await ipr.link("set", index=slave_index, state="up")


async def bounce(ipr: Rtnl, ifname: str, attempts: int = 3, pause: float = 1.0) -> None:
    """Set a VF down and up: its driver resets and asks the PF for its configuration again.

    By name, looked up now: the VF may have been re-created (new ifindex) since it was last seen.
    Once it is down, bringing it up is retried: a recovery attempt must never leave a VF down.
    """
    slave_index = await index(ipr, ifname)
    await ipr.link("set", index=slave_index, state="down")
    for attempt in range(attempts):
        try:
            await ipr.link("set", index=slave_index, state="up")
            return
        except NetlinkError as exc:
            if attempt == attempts - 1:
                raise NetlinkError(exc.code, f"{ifname} left down, {exc}. Fix: ip link set {ifname} up") from exc
            await asyncio.sleep(pause)
