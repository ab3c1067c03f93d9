"""An upgraded VM: profiles vfbond wrote through NetworkManager 1.42 are taken over by 1.52 (same keyfiles,
same runtime state in /run/NetworkManager) without churn: no profile rewritten, no bond rebuilt."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import NM_VERSIONS, wait_ping
from pyroute2 import AsyncIPRoute
from test_nm_backend import Recorder, example_bond, nm, plan_now, profiles  # noqa: F401 - nm: the fixture

from vfbond.backends.nm import NMBackend
from vfbond.configure.apply import apply_and_verify
from vfbond.kernel.bond_state import read_bond

pytestmark = pytest.mark.lab


async def test_profiles_written_by_1_42_are_taken_over_by_1_52_unchanged(topology, nm) -> None:  # noqa: F811 - the fixture
    assert nm.version == NM_VERSIONS[0]
    bond = example_bond()
    backend = NMBackend(wait_for_nm=90)
    try:
        async with AsyncIPRoute() as ipr:
            await apply_and_verify(backend, bond, ipr, Recorder())
            names = profiles(nm)
            keyfiles = {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in nm.keyfiles.iterdir()}
            index = (await read_bond(ipr, "bond0")).link.index

            nm.restart(version=NM_VERSIONS[1])
            said = Recorder()
            outcome = await apply_and_verify(backend, bond, ipr, said)
            assert outcome.changes == [] and said == [], said
            await backend.apply(*(await plan_now(ipr, bond)), said)
            assert said == ["nm: profiles saved and active as planned; nothing to do"]
            state = await read_bond(ipr, "bond0")
            assert state.link.index == index and [s.name for s in state.slaves] == ["vf0", "vf1"]
            assert await wait_ping(topology)
            assert profiles(nm) == names
            assert {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in nm.keyfiles.iterdir()} == keyfiles

            # and 1.52 changes the profile 1.42 wrote in place: same file, same uuid, bond not reactivated
            said = Recorder()
            await apply_and_verify(backend, replace(bond, miimon=200), ipr, said)
            assert said.has("reapplied 'bond0'") and not said.has("reactivating"), said
            assert (await read_bond(ipr, "bond0")).miimon == 200
    finally:
        await backend.close()
    assert profiles(nm) == names
    assert sorted(p.name for p in nm.keyfiles.iterdir()) == sorted(keyfiles)
    assert "miimon=200" in (nm.keyfiles / "bond0.nmconnection").read_text()
