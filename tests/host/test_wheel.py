"""A plain `pip install` (a wheel, no source checkout) carries everything the commands read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.host

ROOT = Path(__file__).parents[2]


def run(*cmd: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}: {done.stdout}{done.stderr}"
    return done


def test_day0_render_finds_the_unit_in_an_installed_wheel(tmp_path: Path) -> None:
    wheels, venv, elsewhere = tmp_path / "wheels", tmp_path / "venv", tmp_path / "elsewhere"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, ROOT)
    run(sys.executable, "-m", "venv", venv)
    (wheel,) = wheels.glob("vfbond-*.whl")
    run(venv / "bin" / "pip", "install", "--quiet", wheel)
    elsewhere.mkdir()
    done = run(venv / "bin" / "bondctl", "day0", "render", "-c", ROOT / "examples" / "vfbond.yaml", cwd=elsewhere)
    unit = (ROOT / "units" / "vfbondd.service").read_text()
    assert "Description=vfbond supervisor" in unit and "Description=vfbond supervisor" in done.stdout
