"""The shipped unit never restarts vfbondd after an exit a restart cannot fix, and the docs list the same
codes (issue 19: a socket directory the unit cannot write ended in a restart loop)."""

from __future__ import annotations

from pathlib import Path

from vfbond.shared import exitcodes

ROOT = Path(__file__).parents[2]
UNIT_FILE = ROOT / "units" / "vfbondd.service"
# vfbondd's exits that a restart meets again: an invalid config, another vfbondd on the socket, a socket
# or state directory the file system refuses.
FINAL = {exitcodes.USAGE, exitcodes.ALREADY_RUNNING, exitcodes.CANNOT_WRITE}


def restart_prevented() -> set[int]:
    (line,) = [ln for ln in UNIT_FILE.read_text().splitlines() if ln.startswith("RestartPreventExitStatus=")]
    return {int(code) for code in line.partition("=")[2].split()}


def test_the_unit_does_not_restart_vfbondd_after_an_exit_a_restart_cannot_fix() -> None:
    assert restart_prevented() == FINAL == {2, 9, 10}


def test_readme_and_the_man_page_list_the_units_codes_and_what_each_means() -> None:
    listed = " ".join(str(code) for code in sorted(FINAL))
    troubleshooting = (ROOT / "README.md").read_text().split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    assert f"RestartPreventExitStatus={listed}" in troubleshooting
    for code in FINAL - {exitcodes.USAGE}:  # 2 has its own entry: "vfbondd exited with status 2"
        assert f"- **status {code}**" in troubleshooting, code
    assert f"RestartPreventExitStatus={listed}" in (ROOT / "man" / "vfbondd.include").read_text()
