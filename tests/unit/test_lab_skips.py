"""The test command fails when the lab skipped more than its named skips (a guest not detected)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "lab_skips.py"
EXPECTED = ROOT / "lab" / "expected-skips.txt"


def junit(tmp_path: Path, cases: dict[str, bool]) -> Path:
    """cases: 'tests.lab.module::name' -> skipped?"""
    rows = "".join(f'<testcase classname="{c.split("::")[0]}" name="{c.split("::")[1]}">'
                   + ('<skipped message="x"/>' if skip else "") + "</testcase>" for c, skip in cases.items())
    path = tmp_path / "lab.xml"
    path.write_text(f'<testsuites><testsuite name="pytest">{rows}</testsuite></testsuites>')
    return path


def check(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), str(EXPECTED), *map(str, files)], capture_output=True,
                          text=True)


def test_the_named_skips_pass(tmp_path: Path) -> None:
    ok = junit(tmp_path, {"tests.lab.test_supervisor::test_mac_changed_under_us_is_reported[sriov]": True,
                          "tests.lab.systemd.test_systemd::test_unit_starts": True,
                          "tests.lab.test_faults::test_fault_sigkill_and_restart_loses_no_ping": False})
    assert check(ok).returncode == 0


def test_any_other_skip_fails_and_is_named(tmp_path: Path) -> None:
    bad = junit(tmp_path, {"tests.lab.test_faults::test_fault_sigkill_and_restart_loses_no_ping": True,
                           "tests.lab.test_supervisor::test_mac_changed_under_us_is_reported[veth]": True})
    result = check(bad)
    assert result.returncode == 1
    assert "unexpected skip: tests/lab/test_faults.py::test_fault_sigkill_and_restart_loses_no_ping" in result.stderr
    assert "test_mac_changed_under_us_is_reported[veth]" in result.stderr  # only the sriov one is expected


def test_a_lab_run_outside_the_guest_skips_everything_and_fails(tmp_path: Path) -> None:
    """What a broken guest detection looks like: the lab tests collected outside the guest skip."""
    xml = tmp_path / "outside.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "lab",
                    str(ROOT / "tests" / "lab" / "test_operator_actions.py"), f"--junitxml={xml}"],
                   capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert check(xml).returncode == 1
