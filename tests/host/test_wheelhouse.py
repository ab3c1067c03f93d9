"""The wheelhouse the VMs install from (RHEL 8.8+/9.2+: glibc 2.28, CPython 3.11/3.12) installs there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.host

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "wheelhouse.py"


def wheelhouse(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_the_built_wheelhouse_installs_on_glibc_2_28_with_cpython_3_11_and_3_12(tmp_path: Path) -> None:
    done = wheelhouse("build", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    names = sorted(p.name for p in tmp_path.glob("*.whl"))
    assert any(n.startswith("vfbond-") for n in names) and any(n.startswith("cryptography-") for n in names)
    assert "every project installable on glibc 2.28 with CPython 3.11 and 3.12" in done.stdout


def test_a_wheel_built_for_a_newer_glibc_is_named_and_fails_the_check(tmp_path: Path) -> None:
    """`pip wheel .` on Debian 12 (glibc 2.36) picks cryptography's manylinux_2_34 wheel."""
    for name in ("cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl", "vfbond-0.1.0-py3-none-any.whl",
                 "pyyaml-6.0.3-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl"):
        (tmp_path / name).touch()  # the check reads the tags in the names
    done = wheelhouse("check", "--python", "3.11", tmp_path)
    assert done.returncode == 1
    assert "cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl installs on no target" in done.stderr
    assert "pyyaml" not in done.stderr and "vfbond" not in done.stderr
