"""The metrics file vfbondd writes passes Prometheus' own linter, `promtool check metrics`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_metrics import status
from tests.unit.test_snmp_view import with_standby
from vfbond.config import MetricsConfig
from vfbond.poll.exporter import Exporter
from vfbond.shared.faults import Faults


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: apt-get install --no-install-recommends prometheus")
    return path


@pytest.mark.parametrize("case", ["moves, probes and a VF out of the bond", "fresh: no move yet, probes off",
                                  "on the standby, a VF not back"])
async def test_the_written_file_passes_promtool_check_metrics(case: str, tmp_path: Path) -> None:
    current: dict[str, Any] = status(probes="enabled") if case.startswith("moves") else status(
        probes="disabled", counters={"failovers": 0, "failbacks": 0, "moves": [], "last_move": None}, faults={})
    if case.startswith("on the standby"):
        current = {**status(probes="enabled"), **with_standby(True, ("fa:16:3e:00:00:02",))}
    faults = Faults()
    exporter = Exporter(MetricsConfig(textfile_dir=str(tmp_path)), "bond0", lambda: current, faults)
    exporter.rtt.observe("sriov0", 0.0004)
    assert exporter.path is not None
    await exporter.write(exporter.path)
    assert not faults.counts
    text = exporter.path.read_text()
    assert ("vfbond_probe_rtt_seconds_bucket" in text) == (not case.startswith("fresh"))
    assert ("vfbond_standby_present{" in text) == case.startswith("on the standby")
    done = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
