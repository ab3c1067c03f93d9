"""Fail when a lab run skipped a test that lab/expected-skips.txt does not name (issue #21).

    python scripts/lab_skips.py lab/expected-skips.txt RESULTS/lab.xml [RESULTS/systemd.xml ...]

A guest whose detection failed skips every lab test and exits 0: without this check the test
command would be green having tested nothing that touches a bond.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from fnmatch import fnmatchcase
from pathlib import Path


def allowed(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def skipped(junit: Path) -> list[str]:
    """Node ids (tests/lab/x.py::name[param]) of the skipped test cases."""
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("skipped") is not None:
            module = case.get("classname", "").replace(".", "/")
            found.append(f"{module}.py::{case.get('name')}")
    return found


def main(argv: list[str]) -> int:
    patterns = allowed(Path(argv[1]))
    unexpected = [node for junit in argv[2:] if Path(junit).exists() for node in skipped(Path(junit))
                  if not any(fnmatchcase(node, p) for p in patterns)]
    for node in unexpected:
        print(f"lab-skips: unexpected skip: {node}", file=sys.stderr)
    if unexpected:
        print(f"lab-skips: {len(unexpected)} lab tests skipped that lab/expected-skips.txt does not name: "
              "was the guest detected? (tests/lab/conftest.py in_lab_guest)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
