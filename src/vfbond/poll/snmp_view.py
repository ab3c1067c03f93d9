"""vfbondd's status as VFBOND-MIB's vfbondState subtree: sorted (OID, type, value) rows for GET and WALK.

Types and value texts are those of net-snmp's pass_persist protocol ("integer", "counter", "octet" as
hex bytes...). Column numbers follow mib/VFBOND-MIB.txt; tests/host walk the result with the MIB.
"""

from __future__ import annotations

import time
from typing import Any

from vfbond.mib import STATE_ROOT
from vfbond.poll.bond_view import condition, configured

Oid = tuple[int, ...]
Row = tuple[Oid, str, str]

ROOT: Oid = tuple(int(part) for part in STATE_ROOT.split("."))
DAEMON_RUNNING, BOND_ENTRY, SLAVE_ENTRY = (*ROOT, 1, 0), (*ROOT, 2, 1), (*ROOT, 3, 1)
BOND_INDEX = 1  # vfbondd supervises one bond

TRUE, FALSE = 1, 2  # SNMPv2-TC TruthValue
FAIL_OVER_MAC = {"none": 1, "active": 2, "follow": 3}
CONDITION = {"up": 1, "degraded": 2, "isolated": 3, "absent": 4}
CAUSE = {"carrier_loss": 2, "path_failure": 3, "slave_missing": 4, "primary_back": 5, "manual": 6,
         "first_active": 7, "kernel": 8, "other": 9}  # none(1): no move in the history
MII = {"up": 1, "down": 2, "fail": 3, "back": 4}  # kernel/bond_state.py's names; absent(5): not in the bond
HEALTH = {"up": 1, "path_down": 2, "down": 3, "missing": 4, "unknown": 5}
MAC_LOCK = {"unknown": 1, "locked": 2, "unlocked": 3}
NO_TIME = "00 00 00 00 00 00 00 00"  # DateAndTime for "never"/"not now"
NO_MAC = "00 00 00 00 00 00"


def rows(status: dict[str, Any] | None) -> list[Row]:
    """Every object of vfbondState for `status` (None: vfbondd did not answer), in OID order."""
    found: list[Row] = [(DAEMON_RUNNING, "integer", str(TRUE if status else FALSE))]
    if status:
        found += _bond(status) + _slaves(status)
    return sorted(found)


def _bond(status: dict[str, Any]) -> list[Row]:
    bond = status.get("bond") or {}
    link = bond.get("link") or {}
    counters = status.get("counters") or {}
    last = counters.get("last_move") or {}
    columns: dict[int, tuple[str, str]] = {
        2: ("string", status.get("bond_name") or ""),
        3: ("integer", str(link.get("index") or 0)),
        4: ("string", bond.get("active_slave") or ""),
        5: ("integer", str(FAIL_OVER_MAC.get(bond.get("fail_over_mac") or "", 4))),
        6: ("gauge", str(bond.get("miimon") or 0)),
        7: ("integer", str(CONDITION[condition(status)])),
        8: ("counter", str(counters.get("failovers", 0) % 2**32)),
        9: ("counter", str(counters.get("failbacks", 0) % 2**32)),
        10: ("octet", _date_and_time(last.get("time"))),
        11: ("integer", str(CAUSE.get(last.get("cause") or "", 1))),
        12: ("string", last.get("reason") or ""),
        13: ("octet", _date_and_time(counters.get("degraded_since"))),
        14: ("octet", _date_and_time(counters.get("isolated_since"))),
    }
    return [((*BOND_ENTRY, column, BOND_INDEX), kind, value) for column, (kind, value) in columns.items()]


def _slaves(status: dict[str, Any]) -> list[Row]:
    active = (status.get("bond") or {}).get("active_slave")
    health = status.get("health") or {}
    locks = ((status.get("vf") or {}).get("slaves")) or {}
    found: list[Row] = []
    for index, vf in enumerate(configured(status), start=1):
        link = vf.slave["link"] if vf.slave else {}
        rtt_ms = (health.get(vf.name) or {}).get("rtt_last_ms")
        lock = ((locks.get(vf.name) or {}).get("mac_lock") or {}).get("state", "unknown")
        columns: dict[int, tuple[str, str]] = {
            2: ("string", vf.label),
            3: ("string", vf.name if vf.slave else ""),
            4: ("integer", str(link.get("index") or 0)),
            5: ("integer", str(TRUE if vf.slave and vf.name == active else FALSE)),
            6: ("integer", str(MII.get(vf.slave["mii_status"], 2) if vf.slave else 5)),
            7: ("integer", str(HEALTH.get(vf.verdict, 5))),
            8: ("gauge", str(round(rtt_ms * 1000) if rtt_ms is not None else 0)),
            9: ("octet", _mac(link.get("mac"))),
            10: ("octet", _mac(vf.slave.get("perm_mac") if vf.slave else None)),
            11: ("integer", str(MAC_LOCK.get(lock, 1))),
        }
        found += [((*SLAVE_ENTRY, column, BOND_INDEX, index), kind, value) for column, (kind, value) in columns.items()]
    return found


def _mac(mac: str | None) -> str:
    return " ".join(mac.split(":")) if mac else NO_MAC


def _date_and_time(when: float | None) -> str:
    """SNMPv2-TC DateAndTime in UTC (8 octets plus direction '+' and zero offset)."""
    if not when:
        return NO_TIME
    t = time.gmtime(when)
    tenths = int((when % 1) * 10)
    octets = [t.tm_year >> 8, t.tm_year & 0xFF, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, tenths,
              ord("+"), 0, 0]
    return " ".join(f"{o:02x}" for o in octets)
