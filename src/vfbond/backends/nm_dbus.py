"""NetworkManager over D-Bus: the calls, property reads and errors the nm backend is made of.

Only the nm backend imports this (and with it dbus-fast), and only once that backend is chosen.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from vfbond.backends import nm_settings as ns
from vfbond.backends.base import BackendError

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
SETTINGS_PATH = NM_PATH + "/Settings"
I_SETTINGS = NM + ".Settings"
I_CONNECTION = NM + ".Settings.Connection"
I_DEVICE = NM + ".Device"
I_ACTIVE = NM + ".Connection.Active"
I_PROPS = "org.freedesktop.DBus.Properties"
DBUS = "org.freedesktop.DBus"

# NMSettingsAddConnection2Flags / NMSettingsUpdate2Flags
SAVE_TO_DISK = 0x1
BLOCK_AUTOCONNECT = 0x20  # until activated by hand: vfbond activates it itself, NM must not race it
# NMCheckpointCreateFlags
# Profiles added after the checkpoint are deleted on rollback, which also takes down a bond NM created
# for them. (DISCONNECT_NEW_DEVICES would need a checkpoint of every device on the machine.) Only flags
# 1.42 knows: it refuses the whole call for a newer one ("Invalid flags" for 1.48's 0x20, which 1.52 takes);
# with this flag, checkpoints and rollbacks behave the same on 1.42 and 1.52.
CP_DELETE_NEW_CONNECTIONS = 0x2
# NMActiveConnectionState, NMDeviceState
AC_ACTIVATING, AC_ACTIVATED = 1, 2
DEV_UNMANAGED, DEV_ACTIVATED = 10, 100

FIX_NO_NM = ("Fix: start NetworkManager (`systemctl start NetworkManager`), or set `backend: ifcfg` "
             "or `backend: netlink` in the config")

class NMError(Exception):
    """A D-Bus error from NetworkManager (or the bus): `name` is the D-Bus error name."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        super().__init__(f"{text} ({name})" if text else name)

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]


def unwrap(value: Any) -> Any:
    """D-Bus variants to plain Python, all the way down."""
    if isinstance(value, Variant):
        return unwrap(value.value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def wrap(section: str, key: str, value: Any) -> Variant:
    sig = ns.SIGNATURES[(section, key)]
    if sig == "ay":
        value = ns.mac_bytes(value) if isinstance(value, str) else bytes(value)
    elif sig == "aa{sv}":
        value = [{"address": Variant("s", a["address"]), "prefix": Variant("u", int(a["prefix"]))} for a in value]
    elif sig == "a{ss}":
        value = {str(k): str(v) for k, v in value.items()}
    return Variant(sig, value)


class NMClient:
    """Method calls and property reads on NetworkManager over a bus the caller owns."""

    def __init__(self, bus: MessageBus, timeout: float = 25.0) -> None:
        self.bus = bus
        self.timeout = timeout

    async def call(self, path: str, interface: str, member: str, signature: str = "", body: Any = (),
                   destination: str = NM) -> list[Any]:
        msg = Message(destination=destination, path=path, interface=interface, member=member,
                      signature=signature, body=list(body))
        try:
            reply = await asyncio.wait_for(self.bus.call(msg), self.timeout)
        except TimeoutError:
            raise NMError("timeout", f"{member} got no answer in {self.timeout:.0f} s") from None
        except Exception as exc:  # noqa: BLE001 - dbus-fast's transport errors share no base class
            raise NMError("disconnected", f"the D-Bus call {member} failed: {exc!r}") from None
        if reply.message_type == MessageType.ERROR:
            raise NMError(reply.error_name or "error", str(reply.body[0]) if reply.body else "")
        return reply.body

    async def get(self, path: str, interface: str, name: str) -> Any:
        (value,) = await self.call(path, I_PROPS, "Get", "ss", (interface, name))
        return unwrap(value)

    async def device(self, ifname: str) -> str | None:
        try:
            (path,) = await self.call(NM_PATH, NM, "GetDeviceByIpIface", "s", (ifname,))
        except NMError as exc:
            if exc.short == "UnknownDevice":
                return None
            raise
        return path

    async def active(self, device: str | None) -> ActiveConnection | None:
        """What runs on a device now: the active connection, its profile and state."""
        if device is None:
            return None
        try:
            ac = await self.get(device, I_DEVICE, "ActiveConnection")
            if not ac or ac == "/":
                return None
            return ActiveConnection(ac, await self.get(ac, I_ACTIVE, "Connection"),
                                    await self.get(ac, I_ACTIVE, "State"))
        except NMError as exc:
            if exc.short in ("UnknownObject", "UnknownMethod", "UnknownInterface"):
                return None  # deactivated between the two reads
            raise


@dataclass(frozen=True)
class ActiveConnection:
    path: str  # the active connection object
    profile: str  # its settings connection
    state: int

    @property
    def up(self) -> bool:
        return self.state in (AC_ACTIVATING, AC_ACTIVATED)


class _NotReady(Exception):
    def __init__(self, reason: str, starting: bool = False) -> None:
        super().__init__(reason)
        self.starting = starting


async def connect_nm(bus: MessageBus | None = None, *, address: str | None = None,
                     wait: float = 30.0) -> MessageBus:
    """A system-bus connection on which NetworkManager answers (after it finished starting).

    Reuses `bus` while it is connected, else connects anew (the dbus-daemon restarted); then waits,
    with exponential backoff for up to `wait` seconds, for NetworkManager to own its name (it is
    restarting). The daemon can call this whenever NM's name owner changes. Raises BackendError with
    the fix when NM does not turn up; a connection this call opened is closed then.
    """
    opened: MessageBus | None = None
    retrying = AsyncRetrying(stop=stop_after_delay(wait), wait=wait_exponential(multiplier=0.1, max=2.0),
                             retry=retry_if_exception_type(_NotReady), reraise=True)
    try:
        async for attempt in retrying:
            with attempt:
                if bus is None or not bus.connected:
                    try:
                        bus = opened = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
                    except Exception as exc:  # noqa: BLE001 - no socket, auth refused, ...: all mean "not yet"
                        raise _NotReady(f"cannot connect to the system D-Bus ({address or 'default socket'}): "
                                        f"{exc!r}") from None
                client = NMClient(bus, timeout=5.0)
                try:
                    (owned,) = await client.call("/org/freedesktop/DBus", DBUS, "NameHasOwner", "s", (NM,),
                                                 destination=DBUS)
                    if not owned:
                        raise _NotReady(f"NetworkManager is not on the system D-Bus ({NM} has no owner)")
                    starting = await client.get(NM_PATH, NM, "Startup")
                except NMError as exc:
                    raise _NotReady(f"NetworkManager does not answer on the system D-Bus: {exc}") from None
                if starting:
                    raise _NotReady("NetworkManager is still starting", starting=True)
    except _NotReady as exc:
        if exc.starting and bus is not None:
            return bus  # it answers; startup may legitimately take long (waiting for devices)
        if opened is not None:
            opened.disconnect()
        raise BackendError(f"nm: {exc} (waited {wait:.0f} s). {FIX_NO_NM}") from None
    assert bus is not None
    return bus
