"""Make the running bond match a plan with rtnetlink only (pyroute2, through kernel/rtnl.py); nothing persists.

Each step compares the kernel with the target first, so a plan the kernel already matches sends
nothing. Options the kernel changes on a live bond (miimon, delays, primary...) are set in place;
`mode` and `fail_over_mac` it accepts only on a bond without slaves, so the slaves are released and
re-enslaved (announced through `progress`). When a step fails, what was there before is put back
(bond options, slaves, MTU, addresses, default routes) and a BackendError with a fix is raised.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from vfbond.backends.base import Backend, BackendError, Progress
from vfbond.bond_model import BondPlan, Change
from vfbond.kernel.bond_state import BOND_MODES, FAIL_OVER_MAC, IFF_UP, PRIMARY_RESELECT, BondState, read_bond
from vfbond.kernel.bond_state import addresses as read_addresses
from vfbond.kernel.rtnl import Rtnl
from vfbond.kernel.slave_prio import set_prio

MAIN_TABLE = 254
DEFAULT_DST: dict[int, str] = {socket.AF_INET: "0.0.0.0/0", socket.AF_INET6: "::/0"}  # default routes' destination
# BOND_OPTFLAG_NOSLAVES in drivers/net/bonding/bond_options.c; `mode` also needs the bond down.
NOSLAVE_OPTIONS = ("mode", "fail_over_mac")
# Option name -> the values the kernel numbers (IFLA_BOND_* carries the index, not the name).
ENUMS = {"mode": BOND_MODES, "fail_over_mac": FAIL_OVER_MAC, "primary_reselect": PRIMARY_RESELECT}
OPTION_ORDER = ("mode", "fail_over_mac", "miimon", "updelay", "downdelay", "primary_reselect",
                "num_peer_notif", "arp_interval")
RERUN = "then apply again (vfbondd re-applies on start)"


@dataclass(frozen=True)
class Target:
    """What the bond should look like; built from a plan, or from a snapshot to roll back to."""

    name: str
    options: dict[str, Any]  # BondState field names and values (enum names, ints, primary ifname)
    slaves: tuple[str, ...]  # enslaving order: the primary first, so it becomes the active slave
    mtu: int | None
    addresses: tuple[str, ...]
    gateways: tuple[str, ...]
    up: bool = True
    standby: str | None = None  # enslaved last, with the kernel's lowest slave priority

    @classmethod
    def from_plan(cls, plan: BondPlan) -> Target:
        options: dict[str, Any] = {
            "mode": "active-backup", "fail_over_mac": plan.fail_over_mac, "miimon": plan.miimon,
            "updelay": plan.updelay, "downdelay": plan.downdelay, "primary_reselect": plan.primary_reselect,
            "num_peer_notif": plan.num_peer_notif, "arp_interval": 0,
        }
        if plan.primary:
            options["primary"] = plan.primary
        names = [b.ifname for b in plan.slaves]
        names.sort(key=lambda n: n != plan.primary)
        gateways = tuple(g for g in (plan.ipv4.gateway, plan.ipv6.gateway) if g)
        return cls(plan.name, options, tuple(names), plan.mtu, tuple(plan.addresses), gateways, standby=plan.standby)

    @classmethod
    def from_state(cls, state: BondState, gateways: tuple[str, ...], up: bool) -> Target:
        options = {k: getattr(state, k) for k in OPTION_ORDER}
        options["primary"] = state.primary  # None: clear one set since
        names = [s.name for s in state.slaves]
        names.sort(key=lambda n: n != state.active_slave)
        return cls(state.name, options, tuple(names), state.link.mtu, tuple(state.addresses), gateways, up)


@dataclass(frozen=True)
class Route:
    family: int
    gateway: str
    oif: int | None
    priority: int | None


@dataclass
class Snapshot:
    """What was there before apply touched anything: enough to put it back."""

    name: str
    bond: BondState | None
    bond_up: bool
    bond_gateways: tuple[str, ...]
    links: dict[str, tuple[int, bool, int | None]] = field(default_factory=dict)  # name -> index, up, master
    defaults: tuple[Route, ...] = ()  # every default route of the main table


class StepFailed(Exception):
    def __init__(self, what: str, error: BaseException, fix: str) -> None:
        super().__init__(f"{what}: {_reason(error)}")
        self.what, self.error, self.fix = what, error, fix


def _reason(error: BaseException) -> str:
    if isinstance(error, NetlinkError):
        return f"{error.args[1] if len(error.args) > 1 else error} (errno {error.code})"
    return str(error) or type(error).__name__


def _family(address: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(address.split("/")[0]).version == 6 else socket.AF_INET


def _netlink_value(option: str, value: Any) -> int:
    if option in ENUMS:
        return ENUMS[option].index(value)
    return int(value)


class _Links:
    """name -> (index, admin up, master) from one link dump."""

    def __init__(self, msgs: list[Any]) -> None:
        self.by_name = {m.get("ifname"): (m["index"], bool(m["flags"] & IFF_UP), m.get("master") or None)
                        for m in msgs}

    def index(self, name: str) -> int:
        return self.by_name[name][0]

    def up(self, name: str) -> bool:
        return self.by_name[name][1]

    def master(self, name: str) -> int | None:
        return self.by_name[name][2]

    def slaves_of(self, index: int) -> list[str]:
        return sorted(n for n, (_, _, master) in self.by_name.items() if master == index)


class _Steps:
    """Brings one bond to a Target. strict: the first failure raises; else failures are collected."""

    def __init__(self, ipr: Rtnl, progress: Progress, strict: bool = True) -> None:
        self.ipr = ipr
        self.progress = progress
        self.strict = strict
        self.failures: list[str] = []
        self.sent = 0  # requests that changed something

    async def step(self, what: str, fix: str, call: Awaitable[Any], on_errno: dict[int, str] | None = None) -> bool:
        """Run one request; `on_errno` gives a better fix for a known kernel refusal."""
        try:
            await call
        except (NetlinkError, OSError, KeyError, ValueError) as exc:
            fix = (on_errno or {}).get(getattr(exc, "code", None) or getattr(exc, "errno", None) or 0, fix)
            if self.strict:
                raise StepFailed(what, exc, fix) from exc
            self.failures.append(f"{what}: {_reason(exc)}")
            return False
        self.sent += 1
        return True

    async def links(self) -> _Links:
        return _Links([m async for m in await self.ipr.link("dump")])

    async def run(self, t: Target) -> None:
        ipr, name = self.ipr, t.name
        state, lk = await self._bond(t)
        index = state.link.index

        deltas = {k: v for k, v in t.options.items() if k != "primary" and getattr(state, k) != v}
        noslave = {k: deltas.pop(k) for k in NOSLAVE_OPTIONS if k in deltas}
        if noslave:
            await self._set_noslave_options(t, state, noslave, lk)
            lk = await self.links()
        if deltas:
            self.progress(f"{name}: setting " + ", ".join(f"{k} {getattr(state, k)} -> {v}"
                                                         for k, v in deltas.items()) + " in place")
            await self.step(f"set {', '.join(deltas)} on {name}", f"check `dmesg` for the bonding message, {RERUN}",
                            ipr.link("set", index=index, kind="bond",
                                     **{f"bond_{k}": _netlink_value(k, v) for k, v in deltas.items()}))

        have = lk.slaves_of(index)
        for extra in [s for s in have if s not in t.slaves]:
            self.progress(f"{name}: releasing {extra} (not in the plan)")
            await self.step(f"release {extra} from {name}", f"release it by hand (`ip link set {extra} nomaster`)",
                            ipr.link("set", index=lk.index(extra), master=0))
        for slave in [s for s in t.slaves if s not in have]:
            await self._enslave(name, index, slave, lk)
            if slave == t.standby and (err := await asyncio.to_thread(set_prio, lk.index(slave))):
                self.progress(f"{name}: {slave}'s slave priority not set ({os.strerror(err)}): vfbondd's policy "
                              "alone keeps the standby last")

        primary = t.options.get("primary")
        if "primary" in t.options and state.primary != primary:
            self.progress(f"{name}: primary {state.primary} -> {primary}")
            await self.step(f"set primary {primary} on {name}", f"check {primary} is a slave of {name}, {RERUN}",
                            ipr.link("set", index=index, kind="bond",  # index 0 clears it
                                     bond_primary=lk.by_name.get(primary or "", (0,))[0]))
        if t.mtu and state.link.mtu != t.mtu:
            self.progress(f"{name}: mtu {state.link.mtu} -> {t.mtu}")
            await self.step(f"set mtu {t.mtu} on {name}",
                            f"use an MTU both VFs accept (the host's PF/VF MTU limits it), {RERUN}",
                            ipr.link("set", index=index, mtu=t.mtu))
        lk = await self.links()
        if t.up != lk.up(name):
            self.progress(f"{name}: bringing it {'up' if t.up else 'down'}")
            await self.step(f"set {name} {'up' if t.up else 'down'}", f"check `dmesg`, {RERUN}",
                            ipr.link("set", index=index, state="up" if t.up else "down"))
        await self._addresses(name, index, t.addresses)
        if t.up:
            await self._routes(name, index, t.gateways)

    async def _bond(self, t: Target) -> tuple[BondState, _Links]:
        """The bond as it is, created when absent; the slaves the target names must all exist."""
        ipr, name = self.ipr, t.name
        state = await read_bond(ipr, name)
        lk = await self.links()
        absent = [s for s in t.slaves if s not in lk.by_name]
        if absent:
            raise StepFailed(f"find slave {', '.join(absent)}", LookupError("no such interface"),
                             "check the VF is attached (`ip -br link`) and the config names it")
        if state is None:
            if name in lk.by_name:
                raise StepFailed(f"create {name}", FileExistsError(f"{name} exists and is not a bond"),
                                 f"delete or rename the existing {name} (`ip link del {name}`), {RERUN}")
            create = {k: v for k, v in t.options.items() if k != "primary"}
            self.progress(f"creating {name}: " + " ".join(f"{k}={v}" for k, v in create.items()))
            await self.step(f"create {name}", "load the bonding driver (`modprobe bonding max_bonds=0`), " + RERUN,
                            ipr.link("add", ifname=name, kind="bond",
                                     **{f"bond_{k}": _netlink_value(k, v) for k, v in create.items()}))
            state = await read_bond(ipr, name)
            if state is None:
                raise StepFailed(f"create {name}", LookupError("the bond is not there after creating it"),
                                 "check `dmesg` for bonding errors")
            lk = await self.links()
        return state, lk

    async def _set_noslave_options(self, t: Target, state: BondState, noslave: dict[str, Any], lk: _Links) -> None:
        ipr, name, index = self.ipr, t.name, state.link.index
        what = ", ".join(f"{k} {getattr(state, k)} -> {v}" for k, v in noslave.items())
        slaves = lk.slaves_of(index)
        if slaves:
            self.progress(f"{name}: {what} is accepted by the kernel only on a bond without slaves: releasing "
                          f"{', '.join(slaves)} and re-enslaving them (traffic stops for about a second)")
            for slave in slaves:
                await self.step(f"release {slave} from {name}",
                                f"release it by hand (`ip link set {slave} nomaster`), {RERUN}",
                                ipr.link("set", index=lk.index(slave), master=0))
        if "mode" in noslave and lk.up(name):
            await self.step(f"set {name} down to change its mode", f"check `dmesg`, {RERUN}",
                            ipr.link("set", index=index, state="down"))
        await self.step(f"set {', '.join(noslave)} on {name}",
                        f"delete {name} (`ip link del {name}`) so it is created afresh, {RERUN}",
                        ipr.link("set", index=index, kind="bond",
                                 **{f"bond_{k}": _netlink_value(k, v) for k, v in noslave.items()}))

    async def _enslave(self, name: str, index: int, slave: str, lk: _Links) -> None:
        ipr, slave_index = self.ipr, lk.index(slave)
        self.progress(f"{name}: enslaving {slave}")
        if lk.up(slave):  # the bonding driver refuses a slave that is up
            await self.step(f"set {slave} down to enslave it", f"check nothing else manages {slave}, {RERUN}",
                            ipr.link("set", index=slave_index, state="down"))
        await self.step(f"enslave {slave} to {name}",
                        f"check nothing else holds {slave} (NetworkManager, a bridge, another bond: "
                        f"`ip -d link show {slave}`), {RERUN}",
                        ipr.link("set", index=slave_index, master=index),
                        on_errno={errno.EADDRNOTAVAIL: (
                            f"the host locked {slave}'s MAC (an untrusted VF with an administrative MAC) and "
                            f"{name} tried to change it: use fail_over_mac: active, or let the VF change its "
                            f"MAC on the host (`ip link set <pf> vf <n> trust on`), {RERUN}")})

    async def _addresses(self, name: str, index: int, wanted: tuple[str, ...]) -> None:
        ipr = self.ipr
        have = await read_addresses(ipr, index)
        norm = {str(ipaddress.ip_interface(a)) for a in wanted}
        # Delete first: removing a primary IPv4 address also removes the secondaries of its subnet.
        for cidr in [a for a in have if str(ipaddress.ip_interface(a)) not in norm]:
            address, prefix = cidr.split("/")
            self.progress(f"{name}: removing address {cidr} (not in the plan)")
            await self.step(f"remove address {cidr} from {name}",
                            f"remove it by hand (`ip addr del {cidr} dev {name}`)",
                            ipr.addr("del", index=index, address=address, prefixlen=int(prefix),
                                     family=_family(address)))
        have_norm = {str(ipaddress.ip_interface(a)) for a in have}
        for cidr in [a for a in wanted if str(ipaddress.ip_interface(a)) not in have_norm]:
            address, prefix = cidr.split("/")
            self.progress(f"{name}: adding address {cidr}")
            await self.step(f"add address {cidr} to {name}",
                            f"check no other interface has {address} (`ip -br addr`), {RERUN}",
                            ipr.addr("add", index=index, address=address, prefixlen=int(prefix),
                                     family=_family(address)))

    async def _routes(self, name: str, index: int, gateways: tuple[str, ...]) -> None:
        ipr = self.ipr
        current = [r for r in await default_routes(ipr) if r.oif == index]
        wanted = {str(ipaddress.ip_address(g)) for g in gateways}
        for route in [r for r in current if r.gateway not in wanted]:
            self.progress(f"{name}: removing default route via {route.gateway} (not in the plan)")
            extra = {"priority": route.priority} if route.priority is not None else {}
            await self.step(f"remove default route via {route.gateway}",
                            f"remove it by hand (`ip route del default via {route.gateway} dev {name}`)",
                            ipr.route("del", dst=DEFAULT_DST[route.family], gateway=route.gateway, oif=index,
                                      family=route.family, **extra))
        present = {r.gateway for r in current}
        for gateway in sorted(wanted - present):
            family = _family(gateway)
            # oif makes the route correct for a link-local gateway too: fe80::/10 is on every link.
            where = "answers on the link" if ipaddress.ip_address(gateway).is_link_local else \
                f"is inside one of {name}'s subnets"
            self.progress(f"{name}: default route via {gateway}")
            await self.step(f"add default route via {gateway} dev {name}",
                            f"check {gateway} {where} and {name} is up, {RERUN}",
                            ipr.route("replace", dst=DEFAULT_DST[family], gateway=gateway, oif=index,
                                      family=family))


async def default_routes(ipr: Rtnl) -> list[Route]:
    """Default routes of the main table that go via a gateway (single-path)."""
    found = []
    for family in (socket.AF_INET, socket.AF_INET6):
        async for r in await ipr.route("dump", family=family):
            if r["dst_len"] == 0 and r.get("table") == MAIN_TABLE and r.get("gateway"):
                found.append(Route(family, str(ipaddress.ip_address(r.get("gateway"))), r.get("oif"),
                                   r.get("priority")))
    return found


class NetlinkBackend(Backend):
    """Runtime only: rtnetlink through the caller's Rtnl (the caller owns and closes it)."""

    name = "netlink"

    def __init__(self, ipr: Rtnl) -> None:
        self.ipr = ipr

    async def apply(self, plan: BondPlan, current: BondState | None, changes: list[Change],
                    progress: Progress) -> None:
        target = Target.from_plan(plan)
        snapshot = await self.snapshot(plan.name, target.slaves)
        steps = _Steps(self.ipr, progress)
        try:
            await steps.run(target)
        except StepFailed as failed:
            if steps.sent == 0:
                raise BackendError(f"{self.name}: {failed}; nothing was changed. Fix: {failed.fix}") from failed
            progress(f"{failed}: restoring what was there before")
            left = await self.restore(snapshot, progress)
            restored = "restored the previous state" if not left else \
                "could not restore everything (" + "; ".join(left) + ")"
            raise BackendError(f"{self.name}: {failed}; {restored}. Fix: {failed.fix}") from failed

    async def snapshot(self, name: str, slaves: tuple[str, ...]) -> Snapshot:
        bond = await read_bond(self.ipr, name)
        msgs = [m async for m in await self.ipr.link("dump")]
        lk = _Links(msgs)
        keep = set(slaves) | ({s.name for s in bond.slaves} if bond else set())
        defaults = tuple(await default_routes(self.ipr))
        index = bond.link.index if bond else None
        return Snapshot(
            name=name,
            bond=bond,
            bond_up=bool(bond) and lk.up(name),
            bond_gateways=tuple(r.gateway for r in defaults if index is not None and r.oif == index),
            links={n: lk.by_name[n] for n in keep if n in lk.by_name},
            defaults=defaults,
        )

    async def restore(self, snap: Snapshot, progress: Progress) -> list[str]:
        """Put the snapshot back, best effort; returns what could not be restored."""
        ipr = self.ipr
        fixer = _Steps(ipr, progress, strict=False)
        if snap.bond is None:
            state = await read_bond(ipr, snap.name)
            if state is not None:
                await fixer.step(f"delete {state.name}", "delete it by hand", ipr.link("del", index=state.link.index))
        else:
            try:
                await fixer.run(Target.from_state(snap.bond, snap.bond_gateways, snap.bond_up))
            except StepFailed as exc:  # a slave vanished meanwhile
                fixer.failures.append(str(exc))
        lk = await fixer.links()
        for link, (index, up, master) in snap.links.items():
            if link not in lk.by_name or lk.index(link) != index:
                continue
            if master and lk.master(link) != master:
                await fixer.step(f"set {link} down", "", ipr.link("set", index=index, state="down"))
                await fixer.step(f"give {link} back to its master", "", ipr.link("set", index=index, master=master))
            elif up != lk.up(link) and not lk.master(link):
                await fixer.step(f"set {link} {'up' if up else 'down'}", "",
                                 ipr.link("set", index=index, state="up" if up else "down"))
        have = set(await default_routes(ipr))
        for route in snap.defaults:
            if route in have or route.oif is None:
                continue
            extra = {"priority": route.priority} if route.priority is not None else {}
            await fixer.step(f"put back default route via {route.gateway}", "",
                             ipr.route("replace", dst=DEFAULT_DST[route.family], gateway=route.gateway, oif=route.oif,
                                       family=route.family, **extra))
        return fixer.failures

