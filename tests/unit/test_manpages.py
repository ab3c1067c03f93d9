"""man/bondctl.1 and man/vfbondd.8 are what scripts/manpages.sh generates from the parsers now: a
changed option or help text without the pages regenerated fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vfbond.ctl.bondctl import parser as bondctl_parser

ROOT = Path(__file__).parents[2]
PAGES = ("bondctl.1", "vfbondd.8")


def roff(text: str) -> str:
    return text.replace("-", "\\-")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("man")
    done = subprocess.run(["bash", str(ROOT / "scripts" / "manpages.sh"), str(out)], capture_output=True,
                          text=True, env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("page", PAGES)
def test_the_committed_page_is_the_generated_one(generated: Path, page: str) -> None:
    committed = (ROOT / "man" / page).read_text(encoding="utf-8")
    assert (generated / page).read_text(encoding="utf-8") == committed, \
        f"man/{page} is stale: run scripts/manpages.sh and commit man/"


def test_bondctl_page_has_every_command_and_its_options() -> None:
    """The generator documents the whole parser, each command in its own section."""
    text = (ROOT / "man" / "bondctl.1").read_text(encoding="utf-8")
    sub = next(a for a in bondctl_parser()._actions if a.dest == "command")
    for name, command in sub.choices.items():  # type: ignore[union-attr]
        section = text.split(f".SH COMMAND \\fI\\,'bondctl {roff(name)}'", 1)[1].split(".SH COMMAND", 1)[0]
        options = [o for a in command._actions for o in a.option_strings if o.startswith("--") and o != "--help"]
        missing = [o for o in options if f"\\fB{roff(o)}\\fR" not in section]
        assert not missing, f"bondctl {name}: {missing} not in man/bondctl.1"


def test_the_page_date_is_the_version_entry_in_the_changelog(generated: Path) -> None:
    header = (generated / "vfbondd.8").read_text(encoding="utf-8").splitlines()[0]
    date = re.search(r'"(\d{4})\\-(\d\d)\\-(\d\d)"', header)
    assert date, header
    assert f"## 0.1.0 - {'-'.join(date.groups())}" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
