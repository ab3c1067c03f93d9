"""Netlink backend against the real bonding driver (kernel-lab guest): apply, idempotence,
in-place option changes, re-enslave for fail_over_mac, and rollback when a step fails."""

from __future__ import annotations

import asyncio
import errno
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_ping
from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from vfbond.backends.base import BackendError
from vfbond.backends.netlink import NetlinkBackend, default_routes
from vfbond.config import BondConfig, parse
from vfbond.configure.apply import apply_and_verify
from vfbond.kernel.bond_state import read_bond
from vfbond.watch.links import LinkWatcher

pytestmark = pytest.mark.lab

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vfbond.yaml"


def example_bond() -> BondConfig:
    """The shipped example config: slaves by MAC (the lab VFs carry the same MACs), primary sriov0."""
    return parse(EXAMPLE.read_text(), str(EXAMPLE)).bond


class Recorder(list):
    def __call__(self, message: str) -> None:
        self.append(message)


class CountingIPR:
    """The real AsyncIPRoute, counting requests that change something; optionally failing one of them."""

    def __init__(self, ipr: AsyncIPRoute, fail: Any = None) -> None:
        self._ipr = ipr
        self.fail = fail  # (kind, command, kwargs) -> bool; fires once
        self.changes: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ipr, name)

    async def _call(self, kind: str, command: str, kw: dict[str, Any]) -> Any:
        if command not in ("dump", "get"):
            if self.fail is not None and self.fail(kind, command, kw):
                self.fail = None
                raise NetlinkError(errno.EBUSY, "Device or resource busy (injected by the test)")
            self.changes.append((kind, command, kw))
        return await getattr(self._ipr, kind)(command, **kw)

    async def link(self, command: str, **kw: Any) -> Any:
        return await self._call("link", command, kw)

    async def addr(self, command: str, **kw: Any) -> Any:
        return await self._call("addr", command, kw)

    async def route(self, command: str, **kw: Any) -> Any:
        return await self._call("route", command, kw)


async def index(ipr: AsyncIPRoute, name: str) -> int:
    (msg,) = tuple(await ipr.link("get", ifname=name))
    return msg["index"]




async def test_apply_builds_the_bond_from_the_example_config(topology) -> None:
    said = Recorder()
    async with AsyncIPRoute() as ipr:
        outcome = await apply_and_verify(NetlinkBackend(ipr), example_bond(), ipr, said)
        assert outcome.changes and outcome.changes[0].field == "bond"
        state = await read_bond(ipr, "bond0")
        routes = await default_routes(ipr)
    assert state is not None
    assert (state.mode, state.fail_over_mac, state.miimon, state.primary_reselect) == \
        ("active-backup", "active", 100, "failure")
    assert [s.name for s in state.slaves] == ["vf0", "vf1"] and state.primary == "vf0"
    assert state.active_slave == "vf0"
    # fail_over_mac=active: every VF keeps the MAC the host gave it.
    assert {s.name: s.link.mac for s in state.slaves} == {"vf0": topology.mac(0), "vf1": topology.mac(1)}
    assert state.addresses == ["192.0.2.10/24", "2001:db8::10/64"]
    assert {(r.gateway, r.oif) for r in routes} == {("192.0.2.1", state.link.index),
                                                    ("2001:db8::1", state.link.index)}
    assert any("creating bond0" in m for m in said)
    assert await wait_ping(topology), "gateway 192.0.2.1 not reachable through bond0"
    assert await wait_ping(topology, v6=True), "gateway 2001:db8::1 not reachable through bond0"


async def test_apply_twice_changes_nothing(topology) -> None:
    bond = example_bond()
    async with AsyncIPRoute() as real:
        await apply_and_verify(NetlinkBackend(real), bond, real, Recorder())
        ipr = CountingIPR(real)
        said = Recorder()
        outcome = await apply_and_verify(NetlinkBackend(ipr), bond, ipr, said)
        assert outcome.changes == [] and said == [] and ipr.changes == []
        # The backend itself is idempotent too, not only apply_and_verify's early return.
        state = await read_bond(real, "bond0")
        await NetlinkBackend(ipr).apply(outcome.plan, state, [], said)
        assert ipr.changes == [] and said == []


async def test_miimon_changes_in_place_without_dropping_the_bond(topology) -> None:
    bond = example_bond()
    async with AsyncIPRoute() as ipr:
        await apply_and_verify(NetlinkBackend(ipr), bond, ipr, Recorder())
        assert await wait_ping(topology)
        before = await read_bond(ipr, "bond0")
        watcher = LinkWatcher()
        await watcher.start()
        seen: list[Any] = []

        async def collect() -> None:
            async for ev in watcher.events():
                seen.append(ev)

        task = asyncio.create_task(collect())
        try:
            counting = CountingIPR(ipr)
            said = Recorder()
            outcome = await apply_and_verify(NetlinkBackend(counting), replace(bond, miimon=200), counting, said)
            await asyncio.sleep(0.5)  # let late link events arrive
        finally:
            task.cancel()
            watcher.close()
        after = await read_bond(ipr, "bond0")
    assert [c.field for c in outcome.changes] == ["miimon"]
    assert after.miimon == 200
    assert [(k, c) for k, c, _ in counting.changes] == [("link", "set")]  # one request, nothing released
    assert after.link.index == before.link.index
    assert [s.link_failure_count for s in after.slaves] == [s.link_failure_count for s in before.slaves]
    bond_index = before.link.index
    assert not [e for e in seen if e.name == "bond0" and not e.carrier], "bond0 lost carrier"
    assert not [e for e in seen if e.name in ("vf0", "vf1") and e.master != bond_index], "a slave was released"
    assert any("in place" in m for m in said)


async def test_fail_over_mac_none_is_fixed_by_re_enslaving_and_survives_spoof_check(topology, sh) -> None:
    # A bond someone made by hand, the way that breaks VFs: fail_over_mac none rewrites the VFs' MACs.
    sh("ip link add bond0 type bond mode active-backup miimon 100 fail_over_mac none")
    for vf in ("vf0", "vf1"):
        sh(f"ip link set {vf} down")
        sh(f"ip link set {vf} master bond0")
    sh("ip link set bond0 up")
    sh("ip addr add 192.0.2.10/24 dev bond0")
    topology.spoofcheck(True)
    said = Recorder()
    async with AsyncIPRoute() as ipr:
        broken = await read_bond(ipr, "bond0")
        assert broken.fail_over_mac == "none"
        rewritten = [s.name for s in broken.slaves if s.link.mac != topology.mac(int(s.name[-1]))]
        if broken.active_slave in rewritten:  # what the lab kernel does: the bond's MAC on both VFs
            assert not await asyncio.to_thread(topology.ping_gateway, False, 1, "bond0", 3), \
                "spoof-check let a rewritten MAC through: this test would prove nothing"
        outcome = await apply_and_verify(NetlinkBackend(ipr), example_bond(), ipr, said)
        state = await read_bond(ipr, "bond0")
    assert "fail_over_mac" in [c.field for c in outcome.changes]
    assert any("releasing vf0, vf1 and re-enslaving" in m for m in said), said
    assert state.fail_over_mac == "active" and [s.name for s in state.slaves] == ["vf0", "vf1"]
    assert {s.name: s.link.mac for s in state.slaves} == {"vf0": topology.mac(0), "vf1": topology.mac(1)}
    assert await wait_ping(topology), f"gateway unreachable under spoof-check; drops {topology.spoof_drops()}"
    # And across a failover: the backup VF speaks with its own MAC, so the switch lets it through.
    topology.cut_carrier(0)
    assert await wait_ping(topology), f"gateway unreachable after failover; drops {topology.spoof_drops()}"
    async with AsyncIPRoute() as ipr:
        assert (await read_bond(ipr, "bond0")).active_slave == "vf1"


async def test_failure_midway_restores_an_existing_bond(topology, sh) -> None:
    sh("ip link add bond0 type bond mode active-backup miimon 100 fail_over_mac none")
    for vf in ("vf0", "vf1"):
        sh(f"ip link set {vf} down")
        sh(f"ip link set {vf} master bond0")
    sh("ip link set bond0 up")
    sh("ip addr add 192.0.2.99/24 dev bond0")
    async with AsyncIPRoute() as real:
        vf1 = await index(real, "vf1")
        before = await read_bond(real, "bond0")
        # Enslaving vf1 again (after the release that fail_over_mac needs) fails once.
        ipr = CountingIPR(real, fail=lambda kind, cmd, kw: kind == "link" and kw.get("index") == vf1
                          and kw.get("master"))
        said = Recorder()
        with pytest.raises(BackendError) as err:
            await apply_and_verify(NetlinkBackend(ipr), example_bond(), ipr, said)
        after = await read_bond(real, "bond0")
    message = str(err.value)
    assert "enslave vf1 to bond0" in message and "restored the previous state" in message
    assert "Fix: " in message and "\n" not in message
    assert after.fail_over_mac == "none" and after.miimon == before.miimon
    assert [s.name for s in after.slaves] == ["vf0", "vf1"]
    assert after.addresses == ["192.0.2.99/24"]
    assert any("restoring what was there before" in m for m in said)


async def test_failure_on_a_new_bond_removes_it_and_leaves_the_vfs_as_they_were(topology, sh) -> None:
    sh("ip link set vf0 up")  # vf1 stays down
    async with AsyncIPRoute() as real:
        ipr = CountingIPR(real, fail=lambda kind, cmd, kw: kind == "addr" and cmd == "add" and ":" in kw["address"])
        with pytest.raises(BackendError, match=r"add address 2001:db8::10/64 to bond0.*restored.*Fix: "):
            await apply_and_verify(NetlinkBackend(ipr), example_bond(), ipr, Recorder())
        assert await read_bond(real, "bond0") is None
        links = {m.get("ifname"): m async for m in await real.link("dump")}
    assert not links["vf0"].get("master") and not links["vf1"].get("master")
    assert links["vf0"]["flags"] & 1 and not links["vf1"]["flags"] & 1  # admin state as before


async def test_missing_vf_changes_nothing(topology) -> None:
    topology.unplug(1)
    async with AsyncIPRoute() as ipr:
        with pytest.raises(Exception, match="no interface matches sriov1"):
            await apply_and_verify(NetlinkBackend(ipr), example_bond(), ipr, Recorder())
        assert await read_bond(ipr, "bond0") is None
