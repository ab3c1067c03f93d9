"""The one place a backend is chosen.

`decide` is pure (requested name + facts -> name + reason); `select_backend` gathers only the facts
the request needs (the system bus is asked only for `auto` and `nm`) and builds the backend.
Backend modules with heavy imports (nm: dbus-fast) are imported only when chosen.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from vfbond.backends.base import Backend, BackendError
from vfbond.config import Config
from vfbond.kernel.rtnl import Rtnl

NM_BUS_NAME = "org.freedesktop.NetworkManager"


@dataclass(frozen=True)
class Facts:
    """What the choice depends on; None: not looked at (the request did not need it)."""

    nm_on_bus: bool | None
    ifcfg_dir_exists: bool | None
    ifcfg_dir: str = "/etc/sysconfig/network-scripts"


@dataclass(frozen=True)
class Choice:
    name: str  # nm | ifcfg | netlink
    reason: str


def needs(requested: str) -> tuple[bool, bool]:
    """(ask the bus for NetworkManager, look at the ifcfg directory) for this request."""
    return requested in ("auto", "nm"), requested in ("auto", "ifcfg")


def decide(requested: str, facts: Facts) -> Choice:
    """Pure: which backend, and why in one line. Raises BackendError when the request cannot work."""
    if requested == "netlink":
        return Choice("netlink", "backend: netlink in the config (runtime only, nothing persists across reboot)")
    if requested == "nm":
        if not facts.nm_on_bus:
            raise BackendError(f"backend: nm, but {NM_BUS_NAME} is not on the system bus. Fix: start "
                               "NetworkManager (`systemctl start NetworkManager`) or set backend: auto")
        return Choice("nm", f"backend: nm in the config and {NM_BUS_NAME} is on the system bus")
    if requested == "ifcfg":
        if not facts.ifcfg_dir_exists:
            raise BackendError(f"backend: ifcfg, but {facts.ifcfg_dir} does not exist. Fix: install "
                               "network-scripts, set ifcfg_dir, or set backend: auto")
        return Choice("ifcfg", f"backend: ifcfg in the config, files in {facts.ifcfg_dir}")
    if requested != "auto":
        raise BackendError(f"backend: {requested!r} is unknown. Fix: use auto, nm, ifcfg or netlink")
    if facts.nm_on_bus:
        return Choice("nm", f"auto: {NM_BUS_NAME} is on the system bus")
    if facts.ifcfg_dir_exists:
        return Choice("ifcfg", f"auto: NetworkManager is not on the system bus and {facts.ifcfg_dir} exists")
    return Choice("netlink", f"auto: NetworkManager is not on the system bus and there is no {facts.ifcfg_dir} "
                             "(runtime only, nothing persists across reboot)")


async def nm_on_bus(bus: Any = None, timeout: float = 5.0) -> bool:
    """Does org.freedesktop.NetworkManager have an owner on the system bus?

    `bus` is a connected dbus_fast.aio.MessageBus; without one, a connection is made for the
    question and closed. No system bus at all means no NetworkManager.
    """
    from dbus_fast import BusType, Message, MessageType
    from dbus_fast.aio import MessageBus

    own = bus is None
    try:
        if own:
            bus = await asyncio.wait_for(MessageBus(bus_type=BusType.SYSTEM).connect(), timeout)
        reply = await asyncio.wait_for(bus.call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus", interface="org.freedesktop.DBus",
            member="NameHasOwner", signature="s", body=[NM_BUS_NAME])), timeout)
    except (TimeoutError, OSError, EOFError):
        return False
    except Exception as exc:  # dbus-fast's auth/connection errors have no common base but Exception
        if type(exc).__module__.startswith("dbus_fast"):
            return False
        raise
    finally:
        if own and bus is not None:
            bus.disconnect()
    return reply.message_type == MessageType.METHOD_RETURN and bool(reply.body and reply.body[0])


async def gather(config: Config, bus: Any = None) -> Facts:
    ask_bus, look_dir = needs(config.backend)
    return Facts(
        nm_on_bus=await nm_on_bus(bus) if ask_bus else None,
        ifcfg_dir_exists=os.path.isdir(config.ifcfg_dir) if look_dir else None,
        ifcfg_dir=config.ifcfg_dir,
    )


async def select_backend(config: Config, ipr: Rtnl, bus: Any = None) -> tuple[Backend, str]:
    """The backend for `config.backend` (auto: nm, else ifcfg, else netlink) and the reason, for logs/status.

    `ipr` is the caller's Rtnl (used by netlink and ifcfg, which the caller closes);
    `bus` an optional connected system-bus MessageBus for the NetworkManager check and backend.
    """
    choice = decide(config.backend, await gather(config, bus))
    if choice.name == "nm":
        from vfbond.backends.nm import NMBackend  # dbus-fast and the NM code load only when NM is chosen

        return NMBackend(bus, ipr=ipr), choice.reason
    from vfbond.backends.netlink import NetlinkBackend

    if choice.name == "ifcfg":
        from vfbond.backends.ifcfg import IfcfgBackend

        return IfcfgBackend(config.ifcfg_dir, NetlinkBackend(ipr)), choice.reason
    return NetlinkBackend(ipr), choice.reason
