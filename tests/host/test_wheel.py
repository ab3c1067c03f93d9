"""A plain `pip install` (a wheel, no source checkout) carries everything the commands read."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, ROOT)
    (found,) = wheels.glob("vfbond-*.whl")
    return found


def test_day0_render_finds_the_unit_in_an_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    venv, elsewhere = tmp_path / "venv", tmp_path / "elsewhere"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "pip", "install", "--quiet", wheel)
    elsewhere.mkdir()
    done = run(venv / "bin" / "bondctl", "day0", "render", "-c", ROOT / "examples" / "vfbond.yaml", cwd=elsewhere)
    unit = (ROOT / "units" / "vfbondd.service").read_text()
    assert "Description=vfbond supervisor" in unit and "Description=vfbond supervisor" in done.stdout


def test_the_wheel_installs_the_man_pages_where_man_finds_them(wheel: Path, tmp_path: Path) -> None:
    """pip puts them in <venv>/share/man; README's install links them into /usr/local/share/man."""
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    # Without PYTHONPATH: a checkout's src/ on it (with the egg-info a build leaves there) would make pip
    # take vfbond as installed already.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--no-deps", str(wheel)], check=True, env=env, timeout=300)
    for name, section in (("bondctl", "1"), ("vfbondd", "8")):
        page = venv / "share" / "man" / f"man{section}" / f"{name}.{section}"
        assert page.read_text() == (ROOT / "man" / page.name).read_text()
        found = run("man", "-M", venv / "share" / "man", "-w", section, name).stdout.strip()
        assert found == str(page)
        shown = subprocess.run(["man", "--warnings", "-M", venv / "share" / "man", section, name], capture_output=True,
                               text=True, env={"MANPAGER": "cat", "MANWIDTH": "100", "LC_ALL": "C.UTF-8"})
        assert shown.returncode == 0 and not shown.stderr, shown.stderr  # groff found nothing to warn about
        assert f"{name} - " in shown.stdout
