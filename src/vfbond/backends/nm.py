"""NetworkManager backend: bond0 and one port per VF as saved NM profiles, applied over D-Bus.

find the profiles NM already has (the seed's nmcli ones are adopted, never duplicated) -> compare
-> checkpoint the involved devices -> write (AddConnection2 / Update2, saved to disk) -> reapply or
(re)activate only what changed -> read the kernel back -> destroy the checkpoint. Any failure on
the way rolls the checkpoint back, so the network is left as it was.

The finding and comparing is nm_survey.py, the D-Bus plumbing nm_dbus.py; the backend selector
imports them (and dbus-fast) only when the nm backend is chosen. The D-Bus connection can be passed
in (the daemon shares one); otherwise the backend opens its own with `connect_nm` and closes it in
`close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid as uuidlib

from dbus_fast.aio import MessageBus

from vfbond.backends import nm_settings as ns
from vfbond.backends.base import Backend, BackendError, Progress
from vfbond.backends.nm_dbus import (
    AC_ACTIVATED,
    BLOCK_AUTOCONNECT,
    CP_DELETE_NEW_CONNECTIONS,
    DEV_ACTIVATED,
    I_ACTIVE,
    I_CONNECTION,
    I_DEVICE,
    I_SETTINGS,
    NM,
    NM_PATH,
    SAVE_TO_DISK,
    SETTINGS_PATH,
    ActiveConnection,
    NMClient,
    NMError,
    connect_nm,
    unwrap,
    wrap,
)
from vfbond.backends.nm_survey import ProfileItem, survey
from vfbond.bond_model import BondPlan, Change, diff
from vfbond.kernel import actions as kernel
from vfbond.kernel.bond_state import BondState, read_bond
from vfbond.kernel.rtnl import Rtnl


class NMBackend(Backend):
    """The bond and its ports as NetworkManager profiles, written and activated over D-Bus.

    `bus`: a connected system-bus MessageBus to use (the caller keeps owning it); without one the
    backend connects with `connect_nm` on first use and closes that connection in `close()`.
    """

    name = "nm"

    def __init__(self, bus: MessageBus | None = None, *, address: str | None = None, wait_for_nm: float = 30.0,
                 activate_timeout: float = 60.0, verify_seconds: float = 20.0,
                 rollback_timeout: int | None = None, ipr: Rtnl | None = None) -> None:
        self._bus = bus
        self._owns_bus = bus is None
        self.address = address
        self.wait_for_nm = wait_for_nm
        self.activate_timeout = activate_timeout
        self.verify_seconds = verify_seconds
        # NM rolls back by itself after this if vfbondd dies mid-apply; it must outlast a slow apply.
        self.rollback_timeout = rollback_timeout or int(activate_timeout + verify_seconds + 60)
        self._ipr = ipr
        self._lock = asyncio.Lock()
        self.port_prio = False  # the running NetworkManager has bond-port.prio; read by client()

    async def client(self) -> NMClient:
        """A client on a bus where NetworkManager answers now (re-found after NM restarted)."""
        bus = await connect_nm(self._bus, address=self.address, wait=self.wait_for_nm)
        if bus is not self._bus:
            if self._bus is not None and not self._owns_bus:
                self._owns_bus = True  # the caller's bus died: the replacement is ours to close
            self._bus = bus
        nm = NMClient(bus)
        # read on every use: a NetworkManager that restarted may have been upgraded
        version = await nm.get(NM_PATH, NM, "Version")
        self.version = f"NetworkManager {version}"
        self.port_prio = ns.has_port_prio(str(version))  # bond-port.prio for the standby's port (NM 1.44+)
        return nm

    async def close(self) -> None:
        if self._bus is not None and self._owns_bus and self._bus.connected:
            self._bus.disconnect()
            with contextlib.suppress(Exception):  # closing: nothing left to do about a failure
                await asyncio.wait_for(self._bus.wait_for_disconnect(), 2.0)
        self._bus = None if self._owns_bus else self._bus

    async def differences(self, plan: BondPlan, progress: Progress = lambda _m: None) -> dict[str, list[str]]:
        """What applying `plan` would write, per profile role (`[]`: as planned, absent: to be added)."""
        nm = await self.client()
        items = await survey(nm, plan, progress, self.port_prio)
        return {i.profile.role: [str(d) for d in i.diffs] for i in items if i.path}

    async def pending(self, plan: BondPlan) -> list[Change]:
        """Profiles missing, differing or not active: the kernel may match while NM would not
        bring the bond back after a reboot (a bond first built by another backend)."""
        nm = await self.client()
        items = await survey(nm, plan, lambda _m: None, self.port_prio)
        return [Change(f"nm profile {i.profile.role}", "absent" if i.path is None else "; ".join(map(str, i.diffs))
                       or "inactive", "as planned")
                for i in items if i.path is None or i.diffs or not i.runs]

    # --- applying -------------------------------------------------------------------------------

    async def apply(self, plan: BondPlan, current: BondState | None, changes: list[Change],
                    progress: Progress) -> None:
        async with self._lock:
            nm = await self.client()
            items = await survey(nm, plan, progress, self.port_prio)
            todo = [i for i in items if i.path is None or i.diffs or not i.runs]
            if not todo and not changes:
                progress("nm: profiles saved and active as planned; nothing to do")
                return
            leaving = await self._leaving(nm, plan, current)
            checkpoint, before = await self._checkpoint(nm, plan, items, leaving, progress)
            try:
                await self._release(nm, leaving, progress)
                await self._write(nm, items, progress)
                await self._activate(nm, items, drift=bool(changes) and not todo, progress=progress)
                await self._verify(plan, progress)
            except BaseException as exc:
                await asyncio.shield(self._rollback(nm, checkpoint, before, progress))
                if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                    raise
                what = str(exc) if isinstance(exc, BackendError) else f"nm: {exc}"
                raise BackendError(f"{what}; rolled back to the state before") from exc
            await self._commit(nm, checkpoint, progress)

    @staticmethod
    async def _leaving(nm: NMClient, plan: BondPlan, current: BondState | None) -> dict[str, str | None]:
        """Slaves the kernel has and the plan drops (a VF replaced in the config), with their NM device."""
        keep = {b.ifname for b in plan.slaves}
        return {s.name: await nm.device(s.name) for s in (current.slaves if current else []) if s.name not in keep}

    async def _release(self, nm: NMClient, leaving: dict[str, str | None], progress: Progress) -> None:
        """Take dropped slaves out of the bond inside the checkpoint, so a rollback puts them back."""
        for ifname, device in leaving.items():
            if device is not None:
                try:
                    await nm.call(device, I_DEVICE, "Disconnect")
                except NMError as exc:
                    if exc.short != "NotActive":
                        raise BackendError(f"nm: cannot release {ifname} from the bond: {exc}") from None
            elif self._ipr is not None:  # not NetworkManager's device: the kernel's bond still holds it
                await self._ipr.link("set", index=await kernel.index(self._ipr, ifname), master=0)
            progress(f"nm: released {ifname} from the bond (no longer in the config)")

    async def _checkpoint(self, nm: NMClient, plan: BondPlan, items: list[ProfileItem], leaving: dict[str, str | None],
                          progress: Progress) -> tuple[str, dict[str, bool]]:
        devices = [i.device for i in items if i.device] + [d for d in leaving.values() if d]
        before = {i.profile.device: (await nm.get(i.device, I_DEVICE, "State")) == DEV_ACTIVATED
                  for i in items if i.device}
        before |= {ifname: (await nm.get(d, I_DEVICE, "State")) == DEV_ACTIVATED for ifname, d in leaving.items() if d}
        try:
            (checkpoint,) = await nm.call(NM_PATH, NM, "CheckpointCreate", "aouu",
                                          (devices, self.rollback_timeout, CP_DELETE_NEW_CONNECTIONS))
        except NMError as exc:
            hint = ""
            if "checkpoint" in exc.text.lower():
                hint = (f" Fix: another checkpoint holds these devices (nmstate, or a vfbondd that died); it "
                        f"expires by itself (`busctl get-property {NM} {NM_PATH} {NM} Checkpoints`)")
            raise BackendError(f"nm: cannot create a checkpoint on {', '.join(before)}: {exc}.{hint}") from None
        progress(f"nm: checkpoint on {', '.join(before)} (NetworkManager rolls back by itself after "
                 f"{self.rollback_timeout} s if vfbondd stops half-way)")
        return checkpoint, before

    async def _write(self, nm: NMClient, items: list[ProfileItem], progress: Progress) -> None:
        for item in items:
            what = item.profile.device if item.profile.is_bond else f"{item.profile.device} ({item.profile.mac})"
            if item.path is None:
                uuid = str(uuidlib.uuid4())
                body = ns.new_settings(item.profile, uuid, wrap)
                item.path, _ = await nm.call(SETTINGS_PATH, I_SETTINGS, "AddConnection2", "a{sa{sv}}ua{sv}",
                                             (body, SAVE_TO_DISK | BLOCK_AUTOCONNECT, {}))
                item.written = True
                progress(f"nm: added profile {item.name!r} for {what}, saved to disk")
            elif item.diffs:
                assert item.raw is not None
                # Autoconnect stays blocked only on a profile vfbond activates right after.
                flags = SAVE_TO_DISK | (0 if item.runs else BLOCK_AUTOCONNECT)
                profile = ns.respell(item.profile, unwrap(item.raw))
                await nm.call(item.path, I_CONNECTION, "Update2", "a{sa{sv}}ua{sv}",
                              (ns.merge(item.raw, profile, wrap), flags, {}))
                item.written = True
                progress(f"nm: updated profile {item.name!r} for {what} in place, saved to disk")

    async def _activate(self, nm: NMClient, items: list[ProfileItem], drift: bool, progress: Progress) -> None:
        deadline = time.monotonic() + self.activate_timeout
        bond, ports = items[0], items[1:]
        if not bond.runs:
            progress(f"nm: activating {bond.profile.device} (profile {bond.name!r}) with its ports")
            ac = await self._activate_one(nm, bond, "/")
            await self._wait(nm, ac, bond, deadline)
        elif bond.runtime_diffs or drift:
            why = ", ".join(d.field for d in bond.runtime_diffs) or "the kernel differs from the profile"
            await self._reapply(nm, bond, why, deadline, progress)
        for port in ports:
            port.active = await nm.active(port.device)  # the bond's activation may have started it
            if not port.runs:
                progress(f"nm: activating port {port.name!r} on {port.profile.device}")
                ac = await self._activate_one(nm, port, port.device or "/")
                await self._wait(nm, ac, port, deadline)
            else:
                if port.runtime_diffs:
                    await self._reapply(nm, port, ", ".join(d.field for d in port.runtime_diffs), deadline,
                                        progress)
                await self._wait(nm, port.active.path, port, deadline)  # type: ignore[union-attr]

    async def _activate_one(self, nm: NMClient, item: ProfileItem, device: str) -> str:
        try:
            (ac,) = await nm.call(NM_PATH, NM, "ActivateConnection", "ooo", (item.path, device, "/"))
        except NMError as exc:
            raise BackendError(f"nm: NetworkManager refused to activate {item.name!r} on "
                               f"{item.profile.device}: {exc}") from None
        return ac

    async def _reapply(self, nm: NMClient, item: ProfileItem, why: str, deadline: float, progress: Progress) -> None:
        """Apply a changed profile to the running device without taking it down; reactivate when NM can't."""
        try:
            await nm.call(item.device or "/", I_DEVICE, "Reapply", "a{sa{sv}}tu", ({}, 0, 0))
            progress(f"nm: reapplied {item.name!r} to the running {item.profile.device} ({why}); not reactivated")
            return
        except NMError as exc:
            if exc.short not in ("IncompatibleConnection", "NotActive"):
                raise BackendError(f"nm: reapplying {item.name!r} on {item.profile.device} failed: {exc}") from None
            drop = ("the bond and its ports go down briefly" if item.profile.is_bond
                    else "this port leaves the bond briefly")
            progress(f"nm: NetworkManager cannot change {why} on the running {item.profile.device} ({exc.text}); "
                     f"reactivating it: {drop}")
        ac = await self._activate_one(nm, item, item.device or "/")
        await self._wait(nm, ac, item, deadline)

    async def _wait(self, nm: NMClient, ac: str, item: ProfileItem, deadline: float) -> None:
        while True:
            try:
                state = await nm.get(ac, I_ACTIVE, "State")
            except NMError as exc:
                if exc.short not in ("UnknownObject", "UnknownMethod", "UnknownInterface"):
                    raise
                state = 4  # the active connection is gone: it failed
            if state == AC_ACTIVATED:
                item.active = ActiveConnection(ac, item.path or "", state)
                return
            if state > AC_ACTIVATED or time.monotonic() > deadline:
                reason = ""
                if item.device:
                    try:
                        dev_state, code = await nm.get(item.device, I_DEVICE, "StateReason")
                        reason = f" (device state {dev_state}, reason {code})"
                    except NMError:
                        pass
                how = "failed" if state > AC_ACTIVATED else f"did not finish in {self.activate_timeout:.0f} s"
                raise BackendError(f"nm: activating {item.name!r} on {item.profile.device} {how}{reason}. "
                                   f"Fix: see `journalctl -u NetworkManager`")
            await asyncio.sleep(0.2)

    async def _verify(self, plan: BondPlan, progress: Progress) -> None:
        """Read the kernel back while the checkpoint still allows a rollback."""
        if self.verify_seconds <= 0:
            return
        progress(f"nm: reading {plan.name} back from the kernel before committing")
        deadline = time.monotonic() + self.verify_seconds
        if self._ipr is not None:
            left = await self._verify_with(self._ipr, plan, deadline)
        else:
            async with Rtnl() as ipr:
                left = await self._verify_with(ipr, plan, deadline)
        if left:
            raise BackendError(f"nm: NetworkManager reports {plan.name} active but the kernel differs: "
                               + "; ".join(map(str, left)))

    @staticmethod
    async def _verify_with(ipr: Rtnl, plan: BondPlan, deadline: float) -> list[Change]:
        while True:
            left = diff(plan, await read_bond(ipr, plan.name))
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.2)

    async def _rollback(self, nm: NMClient, checkpoint: str, before: dict[str, bool], progress: Progress) -> None:
        try:
            (results,) = await nm.call(NM_PATH, NM, "CheckpointRollback", "o", (checkpoint,))
        except NMError as exc:
            progress(f"nm: ROLLBACK FAILED: {exc}; NetworkManager rolls back by itself after "
                     f"{self.rollback_timeout} s if it still holds the checkpoint")
            return
        bad = [f"{p.rsplit('/', 1)[-1]}: result {r}" for p, r in results.items() if r]
        progress("nm: rolled back the checkpoint" + (f" (failures: {', '.join(bad)})" if bad else ""))
        # Wait until what was up before is up again, so the caller sees the old network working.
        deadline = time.monotonic() + self.activate_timeout
        for ifname, was_up in before.items():
            while was_up and time.monotonic() < deadline:
                try:
                    dev = await nm.device(ifname)
                    if dev and await nm.get(dev, I_DEVICE, "State") == DEV_ACTIVATED:
                        break
                except NMError:
                    pass
                await asyncio.sleep(0.2)

    async def _commit(self, nm: NMClient, checkpoint: str, progress: Progress) -> None:
        try:
            await nm.call(NM_PATH, NM, "CheckpointDestroy", "o", (checkpoint,))
        except NMError as exc:
            raise BackendError(f"nm: the checkpoint was gone before it could be committed ({exc}); "
                               f"NetworkManager may have rolled back after {self.rollback_timeout} s") from None
        progress("nm: applied; checkpoint destroyed")
