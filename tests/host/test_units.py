"""The shipped unit and day0 user-data, checked by systemd's and cloud-init's own tools on the host.

Nothing is installed or enabled: systemd-analyze reads unit files offline, and cloud-init only
parses and validates user-data here (it runs for real in the systemd lab, lab/run-systemd.sh).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vfbond.ctl import day0

pytestmark = pytest.mark.host

ROOT = Path(__file__).parents[2]
UNIT = ROOT / "units" / "vfbondd.service"
EXAMPLE = ROOT / "examples" / "vfbond.yaml"
SHIPPED_USER_DATA = ROOT / "cloud-init" / "user-data.yaml"
MAX_EXPOSURE = 3.0  # systemd-analyze security score of the shipped unit: 2.8 (0 best, 10 worst)


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found. Fix: apt-get install --no-install-recommends {package}", pytrace=False)
    return path


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def unit_here(tmp_path: Path) -> Path:
    """The shipped unit with ExecStart and ExecReload pointing at this venv's vfbondd and bondctl, since
    systemd-analyze verify insists the binaries exist and /opt/vfbond is only in an installed VM; every
    other line is as shipped."""
    text = UNIT.read_text()
    for line in ("ExecStart=/opt/vfbond/bin/vfbondd ", "ExecReload=/opt/vfbond/bin/bondctl "):
        program = Path(sys.executable).parent / line.split("/")[-1].strip()
        assert program.exists(), f"{program} missing: pip install -e . in this venv"
        assert text.count(f"\n{line}") == 1, line
        text = text.replace(f"\n{line}", f"\n{line.split('=')[0]}={program} ")
    copy = tmp_path / "vfbondd.service"
    copy.write_text(text)
    return copy


def test_unit_passes_systemd_analyze_verify(unit_here: Path) -> None:
    analyze = tool("systemd-analyze", "systemd")
    done = run(analyze, "verify", str(unit_here))
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_unit_hardening_exposure_stays_low(unit_here: Path) -> None:
    analyze = tool("systemd-analyze", "systemd")
    done = run(analyze, "security", "--offline=yes", "--no-pager", str(unit_here))
    line = next((ln for ln in done.stdout.splitlines() if "Overall exposure level" in ln), None)
    assert line is not None, done.stdout + done.stderr
    score = float(line.split(":")[1].split()[0])
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}: a hardening line was lost\n{done.stdout}"


def test_shipped_user_data_passes_cloud_init_schema() -> None:
    cloud_init = tool("cloud-init", "cloud-init")
    done = run(cloud_init, "schema", "--config-file", str(SHIPPED_USER_DATA))
    assert done.returncode == 0, done.stdout + done.stderr


def test_rendered_user_data_passes_cloud_init_schema(tmp_path: Path) -> None:
    cloud_init = tool("cloud-init", "cloud-init")
    d = day0.load(str(EXAMPLE), wheelhouse="/srv/vfbond wheels", python="python3.12")
    rendered = tmp_path / "user-data"
    rendered.write_text(day0.cloud_config(d))
    done = run(cloud_init, "schema", "--config-file", str(rendered))
    assert done.returncode == 0, done.stdout + done.stderr


# cloud-init's own user-data processing (the Debian package's Python), as in the init stage.
SPLIT = """
import sys
from cloudinit import helpers, user_data
msg = user_data.UserDataProcessor(helpers.Paths({})).process(open(sys.argv[1], "rb").read())
for i, part in enumerate(p for p in msg.walk() if not p.is_multipart()):
    name = f"{sys.argv[2]}/{i}-{part.get_content_type().replace('/', '_')}"
    open(name, "wb").write(part.get_payload(decode=True))
    print(name)
"""


def test_mime_user_data_is_split_by_cloud_init_and_its_cloud_config_is_valid(tmp_path: Path) -> None:
    cloud_init = tool("cloud-init", "cloud-init")
    mime = tmp_path / "user-data.mime"
    mime.write_text(day0.mime(day0.load(str(EXAMPLE))))
    python = Path(cloud_init).read_text().splitlines()[0].removeprefix("#!").split()[0]
    done = run(python, "-c", SPLIT, str(mime), str(tmp_path))
    assert done.returncode == 0, done.stderr
    parts = [Path(p) for p in done.stdout.split()]
    assert [p.name.split("-", 1)[1] for p in parts] == ["text_cloud-boothook", "text_cloud-config"]
    schema = run(cloud_init, "schema", "--config-file", str(parts[1]))
    assert schema.returncode == 0, schema.stdout + schema.stderr
