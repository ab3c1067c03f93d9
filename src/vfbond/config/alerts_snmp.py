"""SNMP trap/inform receivers (v2c with a community, v3 with USM keys)."""

from __future__ import annotations

from typing import Any

from vfbond import redact
from vfbond.config import checks
from vfbond.config.reader import Reader
from vfbond.config.schema import AUTH_PROTOCOLS, PRIV_PROTOCOLS, SNMP_VERSIONS, SnmpTarget


def read_snmp(r: Reader, raw: Any) -> tuple[SnmpTarget, ...]:
    listed = "write it as a YAML list of receivers, e.g. [{host: 192.0.2.60, version: 2c}], or []"
    found = (_read_target(r, item, f"alerts.snmp[{i}]") for i, item in enumerate(r.items(raw, "alerts.snmp", listed)))
    return tuple(t for t in found if t is not None)


def _read_target(r: Reader, item: Any, p: str) -> SnmpTarget | None:
    s = r.section(item, p, SnmpTarget)
    host = s.get("host", str)
    if not host:
        r.problem(f"{p}.host", "missing", "name the trap receiver, e.g. host: 192.0.2.60")
        return None
    version = s.raw.get("version", s.default("version"))
    version = str(version) if isinstance(version, (str, int)) else version  # YAML reads `version: 3` as an int
    if version not in SNMP_VERSIONS:
        r.problem(f"{p}.version", f"{redact.shown(f'{p}.version', version)} is not supported",
                  "use version: 2c or version: 3")
    user = s.get("user", str)
    if version == "3" and not user:
        r.problem(f"{p}.user", "SNMPv3 needs a user", "add user: (and auth_key/priv_key for authPriv)")
    auth_key, priv_key = s.get("auth_key", str), s.get("priv_key", str)
    for key, value in (("auth_key", auth_key), ("priv_key", priv_key)):
        if value is not None and len(value) < 8:
            r.problem(f"{p}.{key}", "shorter than 8 characters (RFC 3414 minimum)", "use a longer key")
    if priv_key and not auth_key:
        r.problem(f"{p}.priv_key", "SNMPv3 has no privacy without authentication", "add auth_key:")
    inform = s.get("inform", bool)
    engine_id = s.get("engine_id", str, checks.engine_id, "give 10 to 64 hex digits, e.g. 0x80001f888056666f6e64")
    if version == "3" and not inform and not engine_id and "engine_id" not in s.raw:
        r.problem(f"{p}.engine_id", "SNMPv3 traps are sent with this host's engine ID, and the receiver "
                  "must know it to check them", "set engine_id: (e.g. 0x80001f888056666f6e64) and give the "
                  "receiver the same one (snmptrapd: createUser -e ID ...), or use inform: true")
    return SnmpTarget(
        host=host, port=s.get("port", int, checks.port, "use the receiver's port, usually {default}"),
        version=version, community=s.get("community", str), inform=inform, user=user,
        auth_protocol=s.choice("auth_protocol", AUTH_PROTOCOLS, default=AUTH_PROTOCOLS[0]) if auth_key else None,
        auth_key=auth_key,
        priv_protocol=s.choice("priv_protocol", PRIV_PROTOCOLS, default=PRIV_PROTOCOLS[0]) if priv_key else None,
        priv_key=priv_key, engine_id=engine_id)
