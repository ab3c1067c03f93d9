"""The newcomer's demo (scripts/demo.sh): lab/demo.sh run in the guest, its output streamed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Topology

pytestmark = pytest.mark.demo

DEMO = Path(__file__).parents[2] / "lab" / "demo.sh"


def test_demo(topology: Topology) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(DEMO)], env=env)
    assert done.returncode == 0, f"lab/demo.sh failed with exit {done.returncode}"
