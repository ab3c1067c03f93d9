"""NetworkManager backend against a real NetworkManager and the real bonding driver (kernel-lab guest):
apply from the example config, idempotence, in-place option change, adopting the seed's nmcli day0
bond, NetworkManager restarts and crashes, checkpoint rollback when an apply fails, and vfbondd failing
over with this backend. Every test runs against NetworkManager 1.42 (Debian 12) and 1.52 (RHEL 9-class)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import NM_VERSIONS, SEED_BOND, SEED_PORTS, wait_ping
from kernel_log import KernelLog
from pyroute2 import AsyncIPRoute
from vfbondd_lab import LabDaemon, active, vfbondd_failed_over

from vfbond.backends.base import BackendError
from vfbond.backends.nm import NMBackend
from vfbond.bond_model import BondPlan, diff
from vfbond.config import BondConfig, parse
from vfbond.configure.apply import apply_and_verify
from vfbond.configure.plan import build
from vfbond.kernel.bond_state import links, read_bond

pytestmark = [pytest.mark.lab, pytest.mark.parametrize("networkmanager", NM_VERSIONS, indirect=True)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vfbond.yaml"

@pytest.fixture
def nm(topology, networkmanager, wait_until):
    """The lab's NetworkManager, managing the veth "VFs".

    Debian's /lib/udev/rules.d/85-nm-unmanaged.rules sets NM_UNMANAGED on every veth, so NM leaves
    vf0/vf1 alone until told otherwise (real SR-IOV VFs are not affected). NM remembers this across
    its own restarts (/run/NetworkManager/devices).
    """
    for vf in topology.vfs:
        networkmanager.nmcli("device", "set", vf, "managed", "yes")
    for vf in topology.vfs:
        wait_until(lambda vf=vf: not networkmanager.nmcli("-g", "GENERAL.STATE", "device", "show", vf)
                   .startswith("10 "), 30, 0.2, f"NetworkManager to manage {vf}")
    return networkmanager


def example_bond() -> BondConfig:
    return parse(EXAMPLE.read_text(), str(EXAMPLE)).bond


class Recorder(list):
    def __call__(self, message: str) -> None:
        print(message)
        self.append(message)

    def has(self, text: str) -> bool:
        return any(text in m for m in self)


def con_path(nm, device: str) -> str:
    """The active connection object on a device ('' when none)."""
    return nm.nmcli("-g", "GENERAL.CON-PATH", "device", "show", device).strip()


def field(nm, profile: str, name: str) -> str:
    """One property of a profile as nmcli prints it (-g escapes ':' in values)."""
    return nm.nmcli("-g", name, "connection", "show", profile).strip().replace("\\:", ":")


def profiles(nm) -> dict[str, str]:
    """name -> uuid of every profile NM has."""
    return {name: uuid for uuid, name in nm.connections()}




async def plan_now(ipr: AsyncIPRoute, bond: BondConfig):
    current = await read_bond(ipr, bond.name)
    plan = build(bond, await links(ipr), current)
    return plan, current, diff(plan, current)


async def assert_example_bond(ipr: AsyncIPRoute, topology, miimon: int = 100) -> None:
    state = await read_bond(ipr, "bond0")
    assert state is not None, "no bond0 in the kernel"
    assert (state.mode, state.fail_over_mac, state.miimon, state.primary_reselect) == \
        ("active-backup", "active", miimon, "failure")
    assert [s.name for s in state.slaves] == ["vf0", "vf1"] and state.primary == "vf0"
    # fail_over_mac=active and no cloned MAC: every VF keeps the MAC the host gave it.
    assert {s.name: s.link.mac for s in state.slaves} == {"vf0": topology.mac(0), "vf1": topology.mac(1)}
    assert state.addresses == ["192.0.2.10/24", "2001:db8::10/64"]
    assert await wait_ping(topology), "gateway 192.0.2.1 not reachable through bond0"
    assert await wait_ping(topology, v6=True), "gateway 2001:db8::1 not reachable through bond0"


async def test_apply_builds_the_bond_as_saved_profiles(topology, nm) -> None:
    said = Recorder()
    backend = NMBackend()
    t0 = time.monotonic()
    try:
        async with AsyncIPRoute() as ipr:
            outcome = await apply_and_verify(backend, example_bond(), ipr, said)
            took = time.monotonic() - t0
            assert outcome.changes and outcome.changes[0].field == "bond"
            await assert_example_bond(ipr, topology)
    finally:
        await backend.close()
    print(f"apply from nothing took {took:.1f}s")
    assert said.has("checkpoint") and said.has("checkpoint destroyed")
    names = profiles(nm)
    assert set(names) == {"bond0", "bond0-sriov0", "bond0-sriov1"}
    # saved to disk: one keyfile per profile in NM's keyfile directory
    keyfiles = sorted(p.read_text() for p in nm.keyfiles.iterdir())
    assert len(keyfiles) == 3 and all(uuid in "".join(keyfiles) for uuid in names.values())
    options = set(field(nm, "bond0", "bond.options").split(","))
    assert {"mode=active-backup", "fail_over_mac=active", "miimon=100", "primary=vf0",
            "primary_reselect=failure"} <= options, options
    assert field(nm, "bond0", "connection.autoconnect-slaves") in ("1 (yes)", "yes", "1")
    for label, mac in (("sriov0", topology.mac(0)), ("sriov1", topology.mac(1))):
        name = f"bond0-{label}"
        assert field(nm, name, "802-3-ethernet.mac-address").lower() == mac
        assert field(nm, name, "connection.interface-name") == ""
        assert field(nm, name, "802-3-ethernet.cloned-mac-address") == ""
        assert field(nm, name, "connection.master") == "bond0"


async def test_apply_twice_changes_nothing_and_does_not_reactivate(topology, nm) -> None:
    bond = example_bond()
    backend = NMBackend()
    try:
        async with AsyncIPRoute() as ipr:
            await apply_and_verify(backend, bond, ipr, Recorder())
            before = {d: con_path(nm, d) for d in ("bond0", "vf0", "vf1")}
            names = profiles(nm)
            mtimes = {p.name: p.stat().st_mtime_ns for p in nm.keyfiles.iterdir()}
            said = Recorder()
            outcome = await apply_and_verify(backend, bond, ipr, said)
            assert outcome.changes == [] and said == []
            # The backend itself is idempotent too, not only apply_and_verify's early return.
            plan, current, changes = await plan_now(ipr, bond)
            assert changes == []
            await backend.apply(plan, current, changes, said)
    finally:
        await backend.close()
    assert said == ["nm: profiles saved and active as planned; nothing to do"]
    assert {d: con_path(nm, d) for d in ("bond0", "vf0", "vf1")} == before
    assert all(before.values())
    assert profiles(nm) == names
    assert {p.name: p.stat().st_mtime_ns for p in nm.keyfiles.iterdir()} == mtimes


async def test_miimon_change_updates_the_profile_in_place(topology, nm) -> None:
    bond = example_bond()
    backend = NMBackend()
    try:
        async with AsyncIPRoute() as ipr:
            await apply_and_verify(backend, bond, ipr, Recorder())
            names = profiles(nm)
            before = {d: con_path(nm, d) for d in ("bond0", "vf0", "vf1")}
            index = (await read_bond(ipr, "bond0")).link.index
            said = Recorder()
            outcome = await apply_and_verify(backend, replace(bond, miimon=200), ipr, said)
            # The kernel and the saved profile both differ; both are reported (apply.apply_and_verify + pending()).
            assert [c.field for c in outcome.changes] == ["miimon", "nm profile bond"]
            state = await read_bond(ipr, "bond0")
            assert state.miimon == 200 and state.link.index == index
            assert [s.name for s in state.slaves] == ["vf0", "vf1"]
            assert await wait_ping(topology)
    finally:
        await backend.close()
    assert said.has("bond.options.miimon: '100' -> '200'")
    assert said.has("updated profile 'bond0'") and said.has("reapplied 'bond0'"), said
    assert not said.has("reactivating")
    assert profiles(nm) == names  # same profiles, same uuids
    assert "miimon=200" in field(nm, "bond0", "bond.options")
    assert {d: con_path(nm, d) for d in ("bond0", "vf0", "vf1")} == before  # not reactivated
    bond_file = [p for p in nm.keyfiles.iterdir() if names["bond0"] in p.read_text()]
    assert len(bond_file) == 1 and "miimon=200" in bond_file[0].read_text()


async def test_adopts_the_seed_day0_nmcli_bond(topology, nm) -> None:

    nm.nmcli(*SEED_BOND)
    for port in SEED_PORTS:
        nm.nmcli(*port)
    nm.nmcli("connection", "up", "bond0", timeout=120)
    seed = profiles(nm)
    assert set(seed) == {"bond0", "bond0-port1", "bond0-port2"}
    backend = NMBackend()
    said = Recorder()
    try:
        async with AsyncIPRoute() as ipr:
            state = await read_bond(ipr, "bond0")
            assert (state.miimon, state.fail_over_mac) == (1000, "active")
            before = {d: con_path(nm, d) for d in ("bond0", "vf0", "vf1")}
            outcome = await apply_and_verify(backend, example_bond(), ipr, said)
            assert {"miimon", "primary", "primary_reselect", "addresses"} <= {c.field for c in outcome.changes}
            await assert_example_bond(ipr, topology)
    finally:
        await backend.close()
    # The seed's profiles were updated in place: same names and uuids, nothing added.
    assert profiles(nm) == seed
    assert said.has("profile 'bond0' for bond0 differs") and said.has("bond.options.miimon: '1000' -> '100'")
    assert not said.has("added profile")
    # Adopted without dropping the bond: reapplied in place ("fail_over_mac=1" kept as the seed spells it).
    assert said.has("reapplied 'bond0'") and not said.has("reactivating"), said
    assert {d: con_path(nm, d) for d in ("bond0", "vf0", "vf1")} == before
    assert "fail_over_mac=1" in field(nm, "bond0", "bond.options")
    for i, name in enumerate(("bond0-port1", "bond0-port2")):
        assert field(nm, name, "802-3-ethernet.mac-address").lower() == topology.mac(i)
        assert field(nm, name, "connection.interface-name") == ""  # matched by MAC from now on
    assert "miimon=100" in field(nm, "bond0", "bond.options")
    assert field(nm, "bond0", "ipv6.method") == "manual"
    assert len(list(nm.keyfiles.iterdir())) == 3


async def test_vf_back_under_another_name_is_taken_back_by_nm_itself(topology, nm, wait_until) -> None:
    """The port profiles match the VF by MAC: NM re-enslaves a returned VF whatever its new name."""
    bond = example_bond()
    backend = NMBackend()
    try:
        async with AsyncIPRoute() as ipr:
            await apply_and_verify(backend, bond, ipr, Recorder())
            names = profiles(nm)
            topology.unplug(0)
            name = topology.replug(0, name="vf0r")
            nm.nmcli("device", "set", name, "managed", "yes")  # veth: see the nm fixture
            master = Path("/sys/class/net/bond0/ifindex").read_text().strip()
            wait_until(lambda: Path(f"/sys/class/net/{name}/master/ifindex").read_text().strip() == master,
                       60, 0.5, f"NetworkManager to enslave {name} by its MAC")
            assert nm.nmcli("-g", "GENERAL.CONNECTION", "device", "show", name).strip() == "bond0-sriov0"
            # vfbond then only renames the primary (the kernel keeps primary by name).
            said = Recorder()
            outcome = await apply_and_verify(backend, bond, ipr, said)
            assert [c.field for c in outcome.changes] == ["primary", "nm profile bond"], outcome.changes
            state = await read_bond(ipr, "bond0")
            assert [s.name for s in state.slaves] == ["vf0r", "vf1"] and state.primary == "vf0r"
            assert await wait_ping(topology)
    finally:
        await backend.close()
    assert profiles(nm) == names
    assert said.has("reapplied 'bond0'") and not said.has("reactivating"), said


async def test_networkmanager_crash_and_restart(topology, nm) -> None:

    bond = example_bond()
    backend = NMBackend(wait_for_nm=90)
    try:
        async with AsyncIPRoute() as ipr:
            await apply_and_verify(backend, bond, ipr, Recorder())
            names = profiles(nm)
            plan, _, _ = await plan_now(ipr, bond)

            # Crash: the kernel keeps the bond; the backend waits for NM to come back and finds
            # the same profiles, unchanged.
            nm.kill()
            assert (await read_bond(ipr, "bond0")) is not None
            t0 = time.monotonic()
            restart = asyncio.create_task(asyncio.to_thread(lambda: (time.sleep(2), nm.start())))
            found = await backend.differences(plan)
            waited = time.monotonic() - t0
            await restart
            assert found == {"bond": [], "sriov0": [], "sriov1": []}
            await assert_example_bond(ipr, topology)
            said = Recorder()
            await backend.apply(*(await plan_now(ipr, bond)), said)
            print(f"after NM crash+restart (reconnected after {waited:.1f}s): {said}")
            assert profiles(nm) == names

            # Graceful restart.
            await asyncio.to_thread(nm.restart)
            said = Recorder()
            outcome = await apply_and_verify(backend, replace(bond, miimon=300), ipr, said)
            # The kernel and the saved profile both differ; both are reported (apply.apply_and_verify + pending()).
            assert [c.field for c in outcome.changes] == ["miimon", "nm profile bond"]
            assert (await read_bond(ipr, "bond0")).miimon == 300
            assert profiles(nm) == names
    finally:
        await backend.close()


async def test_networkmanager_absent_is_a_one_line_error(topology, nm) -> None:
    nm.stop()
    backend = NMBackend(wait_for_nm=1)
    try:
        async with AsyncIPRoute() as ipr:
            with pytest.raises(BackendError) as err:
                await apply_and_verify(backend, example_bond(), ipr, Recorder())
    finally:
        await backend.close()
    message = str(err.value)
    assert "\n" not in message and "NetworkManager is not on the system D-Bus" in message and "Fix:" in message
    nm.start()  # the fixture cleans up through it


async def test_invalid_option_is_refused_and_nothing_changes(topology, nm, monkeypatch) -> None:
    bond = example_bond()
    backend = NMBackend()
    try:
        async with AsyncIPRoute() as ipr:
            await apply_and_verify(backend, bond, ipr, Recorder())
            names = profiles(nm)
            before = con_path(nm, "bond0")
            keyfiles = {p.name: p.read_text() for p in nm.keyfiles.iterdir()}
            good = BondPlan.options
            monkeypatch.setattr(BondPlan, "options", lambda self: {**good(self), "miimon": "not-a-number"})
            said = Recorder()
            with pytest.raises(BackendError) as err:
                await apply_and_verify(backend, replace(bond, miimon=200), ipr, said)
            monkeypatch.setattr(BondPlan, "options", good)
            await assert_example_bond(ipr, topology)
    finally:
        await backend.close()
    assert "rolled back" in str(err.value) and said.has("rolled back the checkpoint"), said
    assert profiles(nm) == names
    assert {p.name: p.read_text() for p in nm.keyfiles.iterdir()} == keyfiles
    assert con_path(nm, "bond0") == before


async def test_failure_after_reapply_rolls_back_profile_and_running_bond(topology, nm,
                                                                         monkeypatch) -> None:
    """NM accepts the profile and reapplies it, but the kernel then differs from the plan: roll back."""
    bond = example_bond()
    backend = NMBackend(verify_seconds=3)
    try:
        async with AsyncIPRoute() as ipr:
            await apply_and_verify(backend, bond, ipr, Recorder())
            names = profiles(nm)
            keyfiles = {p.name: p.read_text() for p in nm.keyfiles.iterdir()}
            good = BondPlan.options
            # The plan says miimon 300; what reaches NM says 400 -> the read-back inside the checkpoint fails.
            monkeypatch.setattr(BondPlan, "options", lambda self: {**good(self), "miimon": "400"})
            said = Recorder()
            with pytest.raises(BackendError) as err:
                await apply_and_verify(backend, replace(bond, miimon=300), ipr, said)
            monkeypatch.setattr(BondPlan, "options", good)
            assert said.has("reapplied 'bond0'") and said.has("rolled back the checkpoint"), said
            await assert_example_bond(ipr, topology, miimon=100)
    finally:
        await backend.close()
    assert "kernel differs" in str(err.value) and "rolled back" in str(err.value)
    assert profiles(nm) == names
    assert "miimon=100" in field(nm, "bond0", "bond.options")
    assert {p.name: p.read_text() for p in nm.keyfiles.iterdir()} == keyfiles


def test_vfbondd_with_the_nm_backend_fails_over_on_carrier_loss(topology, nm, tmp_path, wait_until) -> None:
    """The daemon builds the bond through NetworkManager, then fails over on carrier loss, and back."""
    d = LabDaemon(topology, tmp_path)
    d.write_config(backend="nm", miimon=5000)  # the kernel's own poll would move the bond seconds later
    v0, v1 = topology.vfs
    try:
        d.start()
        assert d.status()["daemon"]["backend"].startswith("backend: nm"), d.status()["daemon"]
        assert set(profiles(nm)) == {"bond0", "bond0-sriov0", "bond0-sriov1"}
        wait_until(lambda: active() == v0, 10, 0.1, "the primary active")
        # NetworkManager's activation is over (addresses, routes, IPv6 DAD): no burst of link events pending
        assert topology.ping_gateway() and topology.ping_gateway(v6=True), "gateway unreachable through bond0"
        # no switch at start: the link events queued while NetworkManager built the bond are stale by then
        assert [e["type"] for e in d.events() if e["type"] in ("failover", "failback")] == []
        t_wall = time.time()
        with KernelLog() as klog:  # vfbondd switched on the carrier event, not the kernel on its MII poll
            topology.cut_carrier(0)
            failover = vfbondd_failed_over(d, t_wall, klog, v0, v1)
        print(f"\nfailover under NetworkManager {nm.version}: {failover['reason']}")
        assert topology.ping_gateway(), "gateway unreachable after failover"
        assert failover["old_active"] == v0 and f"carrier loss on {v0}" in failover["reason"]
        topology.restore_carrier(0)
        wait_until(lambda: active() == v0, 15, 0.05, lambda: f"failback to the primary\n{d.log_tail()}")
        # NetworkManager kept vf0 in the bond through its carrier loss
        assert sorted(Path("/sys/class/net/bond0/bonding/slaves").read_text().split()) == [v0, v1]
    finally:
        d.stop()
        print(d.log_tail(80))
