"""The bond's condition is judged once (judge/condition.py): `bondctl health`, the SNMP table and the
metrics say the same of one status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.test_metrics import render, samples, value
from tests.unit.test_snmp_view import BOND, table
from tests.unit.test_status_render import data
from vfbond.ctl import bondctl, sources
from vfbond.ctl.render import health as render_health
from vfbond.judge.condition import Condition, judge, of_status
from vfbond.shared import exitcodes

A, B = "enp1s0v0", "enp2s0v0"
CONFIGURED = [{"label": "sriov0", "ifname": A}, {"label": "sriov1", "ifname": B}]


def status(active: str | None = A, isolated: bool = False, **verdicts: str) -> dict[str, Any]:
    base = data()
    base["bond"]["active_slave"] = active
    return {**base, "bond_name": "bond0", "verdicts": {A: "up", B: "up", **verdicts}, "configured": CONFIGURED,
            "isolated": isolated, "warnings": []}


def health(st: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[str, int]:
    monkeypatch.setattr(sources, "request", lambda *_a, **_k: json.loads(json.dumps(st)))
    code = bondctl.main(["health", "--json"])
    return json.loads(capsys.readouterr().out)["health"], code


def polled(st: dict[str, Any]) -> tuple[str, float | None, float | None]:
    found = samples(render(st))
    return (table(st)[f"{BOND}.7.1"][1], value(found, "vfbond_bond_degraded", bond="bond0"),
            value(found, "vfbond_bond_isolated", bond="bond0"))


def test_the_judgment() -> None:
    assert [judge(2), judge(1), judge(0), judge(2, carrying=False), judge(2, warned=True)] == \
        [Condition.OK, Condition.DEGRADED, Condition.DOWN, Condition.DOWN, Condition.DEGRADED]
    assert of_status(None) == Condition.ABSENT


@pytest.mark.parametrize(("st", "said", "snmp"), [
    (status(), "ok", ("1", 0, 0)),
    (status(**{B: "path_down"}), "degraded", ("2", 1, 0)),
    (status(**{A: "down", B: "missing"}), "down", ("3", 0, 1)),
    # No active slave: the bond carries nothing. SNMP and the metrics said up (1) here, health down.
    (status(active=None), "down", ("3", 0, 1)),
    # Reported isolated (no slave reached the gateway): health said ok here, SNMP isolated.
    (status(isolated=True), "down", ("3", 0, 1)),
])
def test_health_snmp_and_the_metrics_agree(st: dict[str, Any], said: str, snmp: tuple[str, int, int],
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert health(st, monkeypatch, capsys) == (said, {"ok": exitcodes.OK, "degraded": exitcodes.DEGRADED,
                                                      "down": exitcodes.DOWN}[said])
    assert polled(st) == snmp


def on_standby(carrying: bool = True) -> dict[str, Any]:
    """No VF usable, the standby pv0 active (#22); `carrying`: vfbondd's tracker says the bond runs on it."""
    st = status(active="pv0", **{A: "down", B: "missing"})
    st["standby"] = {"label": "standby", "ifname": "pv0", "role": "standby", "on_standby": carrying,
                     "on_standby_s": 4.0 if carrying else None, "on_standby_total_s": 4.0, "detached": [],
                     "migration": False}
    return st


def test_the_standby_carrying_the_vm_is_degraded_not_isolated(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The VM is on the network while no VF is usable: bond_isolated is not raised (on_standby is), and health,
    SNMP and the metrics said down/isolated here, so VfbondBondIsolated (critical) fired in every migration."""
    assert health(on_standby(), monkeypatch, capsys) == ("degraded", exitcodes.DEGRADED)
    assert polled(on_standby()) == ("2", 1, 0)
    assert "the standby pv0 carries the traffic" in render_health("bond0", on_standby())[1]
    assert polled(on_standby(carrying=False)) == ("3", 0, 1)


def test_health_counts_the_configured_vfs_not_any_slave(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """sriov1 is out of the bond and another interface is in it: health said ok ("2 slaves usable")."""
    st = status()
    st["configured"] = [CONFIGURED[0], {"label": "sriov1", "ifname": None}]
    assert health(st, monkeypatch, capsys) == ("degraded", exitcodes.DEGRADED)
    assert polled(st)[0] == "2"
