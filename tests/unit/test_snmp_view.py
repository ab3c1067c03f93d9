"""VFBOND-MIB's vfbondState from a status, and the pass_persist conversation over it."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from tests.unit.test_status_render import data
from vfbond.mib import STATE_ROOT
from vfbond.poll import snmp_view
from vfbond.poll.pass_persist import View, answer, serve

BOND, SLAVE = f".{STATE_ROOT}.2.1", f".{STATE_ROOT}.3.1"


def status(**extra: Any) -> dict[str, Any]:
    base = data(vf={"slaves": {"enp2s0v0": {"mac_lock": {"state": "locked"}}}})
    return {**base, "bond_name": "bond0", "verdicts": {"enp1s0v0": "up", "enp2s0v0": "path_down"},
            "health": {"enp1s0v0": {"rtt_last_ms": 0.412}},
            "configured": [{"label": "sriov0", "ifname": "enp1s0v0"}, {"label": "sriov1", "ifname": "enp2s0v0"},
                           {"label": "sriov2", "ifname": None}],
            "counters": {"failovers": 3, "failbacks": 2, "degraded_since": 1764853200.5,
                         "last_move": {"time": 1764853200.5, "cause": "path_failure", "reason": "path failure on x"}},
            **extra}


def with_standby(on: bool, not_returned: tuple[str, ...] = ()) -> dict[str, Any]:
    """status() plus the standby pv0 in the bond: carrying the traffic for 42.5 s (`on`: both VFs down), or a
    healthy backup; 100.25 s on it all told; `not_returned`: the MACs vfs_not_returned named."""
    st = status(vfs_not_returned=list(not_returned))
    bond = st["bond"]
    pv0 = {**bond["slaves"][0], "link": {**bond["slaves"][0]["link"], "name": "pv0", "index": 30,
                                         "mac": "52:54:00:ab:cd:09", "driver": "virtio_net"}}
    st["bond"] = {**bond, "slaves": [*bond["slaves"], pv0], "active_slave": "pv0" if on else bond["active_slave"]}
    st["verdicts"] = {**st["verdicts"], "pv0": "up"} | ({"enp1s0v0": "down", "enp2s0v0": "down"} if on else {})
    st["standby"] = {"label": "standby", "ifname": "pv0", "role": "standby", "on_standby": on,
                     "on_standby_s": 42.5 if on else None, "on_standby_total_s": 100.25, "detached": [],
                     "migration": False}
    return st


def table(st: dict[str, Any] | None) -> dict[str, tuple[str, str]]:
    return {"." + ".".join(map(str, oid)): (kind, value) for oid, kind, value in snmp_view.rows(st)}


def test_the_bond_row_and_a_slave_row_per_configured_vf_present_or_not() -> None:
    t = table(status())
    assert t[f"{BOND}.4.1"] == ("string", "enp1s0v0")
    assert t[f"{BOND}.7.1"] == ("integer", "2")  # degraded: one of three configured VFs healthy
    assert t[f"{BOND}.8.1"] == ("counter", "3") and t[f"{BOND}.9.1"] == ("counter", "2")
    assert t[f"{BOND}.11.1"] == ("integer", "3")  # pathFailure
    # 2025-12-04 13:00:00.5 UTC, direction '+', offset 0
    assert t[f"{BOND}.10.1"] == ("octet", "07 e9 0c 04 0d 00 00 05 2b 00 00") == t[f"{BOND}.13.1"]
    assert t[f"{BOND}.14.1"] == ("octet", snmp_view.NO_TIME)
    assert t[f"{SLAVE}.5.1.1"] == ("integer", "1") and t[f"{SLAVE}.5.1.2"] == ("integer", "2")  # active: true, false
    assert t[f"{SLAVE}.7.1.2"] == ("integer", "2")  # pathDown
    assert t[f"{SLAVE}.8.1.1"] == ("gauge", "412")  # microseconds
    assert t[f"{SLAVE}.9.1.2"] == ("octet", "fa 16 3e 00 00 02")
    assert t[f"{SLAVE}.11.1.2"] == ("integer", "2") and t[f"{SLAVE}.11.1.1"] == ("integer", "1")  # locked, unknown
    missing = {col: t[f"{SLAVE}.{col}.1.3"] for col in (2, 3, 4, 6, 7)}
    assert missing == {2: ("string", "sriov2"), 3: ("string", ""), 4: ("integer", "0"), 6: ("integer", "5"),
                       7: ("integer", "4")}  # absent from the bond, verdict missing


def test_without_vfbondd_only_daemon_running_false_is_served() -> None:
    assert table(None) == {f".{STATE_ROOT}.1.0": ("integer", "2")}
    gone = table(status(bond=None))
    assert gone[f"{BOND}.7.1"] == ("integer", "4") and gone[f"{BOND}.2.1"] == ("string", "bond0")  # absent


def test_a_walk_by_getnext_visits_every_row_once_in_order_and_ends() -> None:
    view = View(lambda: status(), max_age=1.0)
    expected = [oid for oid, _, _ in snmp_view.rows(status())]
    seen, oid = [], ".1.3.6.1.4.1.32473"  # snmpwalk may start above our subtree
    while (reply := answer("getnext", oid, view)) != "NONE\n":
        oid = reply.split("\n")[0]
        seen.append(tuple(int(p) for p in oid.strip(".").split(".")))
    assert seen == expected and len(seen) == 1 + 22 + 3 * 10


def test_one_status_read_serves_a_whole_walk() -> None:
    reads, now = [], [0.0]
    view = View(lambda: reads.append(1) or status(), max_age=1.0, clock=lambda: now[0])
    for _ in range(40):
        answer("getnext", f".{STATE_ROOT}", view)
    now[0] = 1.5
    answer("get", f".{STATE_ROOT}.1.0", view)
    assert len(reads) == 2


def test_the_conversation_snmpd_holds() -> None:
    out = io.StringIO()
    serve(View(lambda: None, 1.0), io.StringIO(f"PING\nget\n.{STATE_ROOT}.1.0\nget\n.{STATE_ROOT}.1.1\n"
                                               f"set\n.{STATE_ROOT}.1.0\ninteger 1\ngetnext\n.{STATE_ROOT}.1.0\n"), out)
    assert out.getvalue() == f"PONG\n.{STATE_ROOT}.1.0\ninteger\n2\nNONE\nnot-writable\nNONE\n"


def test_the_bond_row_shows_maintenance_and_repairs() -> None:
    paused = status()
    paused["reconcile"] = {"paused": {"reason": "CHG-42", "since": 1796500000.0, "until": None},
                           "drift_while_paused": None, "waiting_for": None, "repairs": 2, "last_repair": None,
                           "applying": False}
    by_oid = {oid: (kind, text) for oid, kind, text in snmp_view.rows(paused)}
    entry = snmp_view.BOND_ENTRY
    assert by_oid[(*entry, 16, 1)] == ("string", "CHG-42") and by_oid[(*entry, 17, 1)] == ("counter", "2")
    assert by_oid[(*entry, 15, 1)][1] != snmp_view.NO_TIME
    plain = {oid: text for oid, _, text in snmp_view.rows(status())}
    assert plain[(*entry, 15, 1)] == snmp_view.NO_TIME and plain[(*entry, 16, 1)] == ""


def test_the_bond_row_shows_the_standby_whether_the_bond_runs_on_it_and_the_time_on_it() -> None:
    on, backup = table(with_standby(on=True, not_returned=("fa:16:3e:00:00:02",))), table(with_standby(on=False))
    assert on[f"{BOND}.18.1"] == ("string", "pv0") and on[f"{BOND}.19.1"] == ("integer", "4")  # active
    assert on[f"{BOND}.20.1"] == ("integer", "1")  # its verdict: up
    assert on[f"{BOND}.21.1"] == ("gauge", "42") and on[f"{BOND}.22.1"] == ("counter", "100")  # seconds
    assert on[f"{BOND}.23.1"] == ("gauge", "1")  # one VF not back
    assert on[f"{BOND}.7.1"] == ("integer", "2")  # degraded, not isolated: the VM is on the network
    assert backup[f"{BOND}.19.1"] == ("integer", "3") and backup[f"{BOND}.21.1"] == ("gauge", "0")
    assert backup[f"{BOND}.23.1"] == ("gauge", "0")
    gone = with_standby(on=False)
    gone["standby"]["ifname"] = None
    assert table(gone)[f"{BOND}.19.1"] == ("integer", "2") and table(gone)[f"{BOND}.18.1"] == ("string", "")
    assert table(gone)[f"{BOND}.20.1"] == ("integer", "4")  # missing
    none = table(status())  # no standby configured: every column still answers
    assert [none[f"{BOND}.{col}.1"] for col in range(18, 24)] == [
        ("string", ""), ("integer", "1"), ("integer", "4"), ("gauge", "0"), ("counter", "0"), ("gauge", "0")]


def mib_columns(entry: str) -> set[int]:
    """The readable columns VFBOND-MIB defines in a table entry (vfbondBondEntry, vfbondSlaveEntry)."""
    text = (Path(__file__).parents[2] / "mib" / "VFBOND-MIB.txt").read_text(encoding="utf-8")
    found = re.findall(rf"^\w+ OBJECT-TYPE\n((?:(?!::=).)*)::= \{{ {entry} (\d+) \}}", text, flags=re.M | re.S)
    return {int(column) for body, column in found if re.search(r"MAX-ACCESS\s+read-only", body)}


def test_every_column_the_mib_defines_is_served_and_no_other() -> None:
    """Without the lab's snmpwalk: a column added to one of the MIB and the view, not the other, fails here."""
    served = {oid[:-1]: oid for oid, _, _ in snmp_view.rows(status())}
    bond = {oid[len(snmp_view.BOND_ENTRY)] for oid in served.values() if oid[:-2] == snmp_view.BOND_ENTRY}
    slave = {oid[len(snmp_view.SLAVE_ENTRY)] for oid in served.values() if oid[:-3] == snmp_view.SLAVE_ENTRY}
    assert bond == mib_columns("vfbondBondEntry") and slave == mib_columns("vfbondSlaveEntry")
