"""Host tests: network namespaces and veth pairs that each test creates and removes itself."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest


def sh(cmd: str) -> str:
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"`{cmd}` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@pytest.fixture
def netns() -> Iterator[Callable[[], str]]:
    """Factory of fresh, uniquely named namespaces; all are deleted at teardown, even on failure."""
    if os.geteuid() != 0:
        pytest.fail("host tests need root (network namespaces): run them as root, e.g. in CI")
    made: list[str] = []

    def make() -> str:
        name = f"vfb-{uuid.uuid4().hex[:8]}"
        sh(f"ip netns add {name}")
        made.append(name)
        sh(f"ip -n {name} link set lo up")
        return name

    yield make
    for name in made:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
