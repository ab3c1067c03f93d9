"""IfcfgBackend's file handling, with a fake runtime: atomic writes, backups, idempotence, undo."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from vfbond.backends.base import Backend, BackendError
from vfbond.backends.ifcfg import IfcfgBackend, atomic_write
from vfbond.backends.ifcfg_render import render
from vfbond.bond_model import BondPlan, Change
from vfbond.kernel.bond_state import BondState

from .test_ifcfg_render import PLAN


class FakeRuntime(Backend):
    name = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls = 0

    async def apply(self, plan: BondPlan, current: BondState | None, changes: list[Change], progress) -> None:
        self.calls += 1
        if self.fail:
            raise BackendError("fake: enslave ens7 failed; restored the previous state. Fix: something")


def snapshot(d: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in sorted(d.iterdir())}


async def test_writes_files_and_runtime(tmp_path: Path) -> None:
    runtime, said = FakeRuntime(), []
    await IfcfgBackend(tmp_path, runtime).apply(PLAN, None, [], said.append)
    assert runtime.calls == 1
    assert sorted(os.listdir(tmp_path)) == ["ifcfg-bond0", "ifcfg-ens6", "ifcfg-ens7"]
    for name, text in render(PLAN).items():
        assert (tmp_path / name).read_text() == text
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644
    assert any("writing" in s and "ifcfg-bond0" in s for s in said)


async def test_same_plan_twice_leaves_files_untouched(tmp_path: Path) -> None:
    backend = IfcfgBackend(tmp_path, FakeRuntime())
    await backend.apply(PLAN, None, [], lambda _: None)
    before = snapshot(tmp_path)
    said: list[str] = []
    await backend.apply(PLAN, None, [], said.append)
    assert snapshot(tmp_path) == before and said == []


async def test_changed_plan_rewrites_only_what_changed_and_keeps_a_backup(tmp_path: Path) -> None:
    backend = IfcfgBackend(tmp_path, FakeRuntime())
    await backend.apply(PLAN, None, [], lambda _: None)
    old_bond = (tmp_path / "ifcfg-bond0").read_text()
    ens6 = (tmp_path / "ifcfg-ens6").stat().st_mtime_ns
    done = backend.write(replace(PLAN, miimon=200), lambda _: None)
    assert done.written == ["ifcfg-bond0"] and not done.created
    assert "miimon=200" in (tmp_path / "ifcfg-bond0").read_text()
    assert (tmp_path / done.backups["ifcfg-bond0"]).read_text() == old_bond
    assert done.backups["ifcfg-bond0"].endswith(".bak")  # network-scripts skips it
    assert (tmp_path / "ifcfg-ens6").stat().st_mtime_ns == ens6


async def test_conflicting_files_are_moved_aside(tmp_path: Path) -> None:
    (tmp_path / "ifcfg-eth1").write_text('DEVICE=eth1\nHWADDR="FA:16:3E:00:00:01"\nBOOTPROTO=dhcp\n')
    (tmp_path / "ifcfg-eth0").write_text("DEVICE=eth0\nBOOTPROTO=dhcp\n")  # management NIC: left alone
    (tmp_path / "route-bond0").write_text("10.0.0.0/8 via 192.0.2.254\n")  # not an ifcfg file
    said: list[str] = []
    done = IfcfgBackend(tmp_path, FakeRuntime()).write(PLAN, said.append)
    assert "ifcfg-eth1" in done.moved_aside and not (tmp_path / "ifcfg-eth1").exists()
    assert (tmp_path / done.moved_aside["ifcfg-eth1"]).read_text().startswith("DEVICE=eth1")
    assert (tmp_path / "ifcfg-eth0").exists() and (tmp_path / "route-bond0").exists()
    assert any("moving ifcfg-eth1 aside" in s and "fa:16:3e:00:00:01" in s for s in said)


async def test_runtime_failure_puts_the_files_back(tmp_path: Path) -> None:
    (tmp_path / "ifcfg-ens6").write_text("DEVICE=ens6\nBOOTPROTO=dhcp\n")
    (tmp_path / "ifcfg-eth1").write_text("DEVICE=eth1\nHWADDR=fa:16:3e:00:00:02\n")
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    with pytest.raises(BackendError, match="left as they were"):
        await IfcfgBackend(tmp_path, FakeRuntime(fail=True)).apply(PLAN, None, [], lambda _: None)
    after = {p.name: p.read_text() for p in tmp_path.iterdir() if not p.name.endswith(".bak")}
    assert after == before


async def test_missing_directory_is_a_one_line_error(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    with pytest.raises(BackendError, match=r"is not a directory\. Fix: ") as err:
        await IfcfgBackend(tmp_path / "nope", runtime).apply(PLAN, None, [], lambda _: None)
    assert "\n" not in str(err.value) and runtime.calls == 0


async def test_unwritable_directory_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ifcfg-eth1").write_text("DEVICE=eth1\nHWADDR=fa:16:3e:00:00:02\n")
    calls = {"n": 0}
    real = atomic_write

    def flaky(path: Path, text: str, mode: int = 0o644) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device", str(path))
        real(path, text, mode)

    monkeypatch.setattr("vfbond.backends.ifcfg.atomic_write", flaky)
    with pytest.raises(BackendError, match="No space left on device; files left as they were"):
        IfcfgBackend(tmp_path, FakeRuntime()).write(PLAN, lambda _: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ifcfg-eth1"]


def test_atomic_write_leaves_no_temp_file(tmp_path: Path) -> None:
    atomic_write(tmp_path / "ifcfg-x", "A=1\n")
    atomic_write(tmp_path / "ifcfg-x", "A=2\n")
    assert os.listdir(tmp_path) == ["ifcfg-x"] and (tmp_path / "ifcfg-x").read_text() == "A=2\n"


def test_backups_are_pruned(tmp_path: Path) -> None:
    backend = IfcfgBackend(tmp_path, FakeRuntime())
    for miimon in range(100, 1100, 100):
        backend.write(replace(PLAN, miimon=miimon), lambda _: None)
    backups = sorted(p.name for p in tmp_path.glob("ifcfg-bond0.vfbond-*.bak"))
    assert len(backups) == 5
    assert "miimon=900" in (tmp_path / backups[-1]).read_text()


async def test_pending_lists_what_write_would_do(tmp_path: Path) -> None:
    backend = IfcfgBackend(tmp_path, FakeRuntime())
    (tmp_path / "ifcfg-eth1").write_text("DEVICE=eth1\nHWADDR=fa:16:3e:00:00:02\n")
    assert [c.field for c in await backend.pending(PLAN)] == \
        ["file ifcfg-bond0", "file ifcfg-ens6", "file ifcfg-ens7", "file ifcfg-eth1"]
    backend.write(PLAN, lambda _: None)
    assert await backend.pending(PLAN) == []
    assert [c.field for c in await backend.pending(replace(PLAN, miimon=200))] == ["file ifcfg-bond0"]
