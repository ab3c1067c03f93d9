"""Unit tests run with SIGPIPE ignored, as Python (and so vfbondd) starts: bondctl.main() sets it to
the default for `bondctl events | head`, and a test after one that ran it would otherwise be killed
by the first write to a peer that has gone."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def sigpipe_ignored() -> Iterator[None]:
    before = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGPIPE, before)
