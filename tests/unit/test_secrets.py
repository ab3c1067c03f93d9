"""SNMP communities and USM keys never show up in errors, repr, status or sink errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from vfbond import config, redact
from vfbond.config import ConfigError
from vfbond.shared.events import Event, EventType
from vfbond.sinks import Dispatcher, SinkUnavailable, build_sinks
from vfbond.sinks import snmp as snmp_sink

BOND = "bond:\n  slaves:\n    - mac: fa:16:3e:00:00:01\n    - mac: fa:16:3e:00:00:02\n"
V3 = ("    - {host: 127.0.0.1, version: '3', user: ops, auth_key: AuthS3cret-1, priv_key: PrivS3cret-2, "
      "engine_id: '0x80001f888056666f6e64'}\n")
V2C = "    - {host: 127.0.0.2, version: 2c, community: C0mmunityS3cret}\n"
SECRETS = ("AuthS3cret-1", "PrivS3cret-2", "C0mmunityS3cret")


def snmp(*items: str) -> str:
    return BOND + "alerts:\n  snmp:\n" + "".join(items)


# (field, a wrong-typed YAML value, text of it that must not appear)
WRONG_TYPED = [
    ("auth_key", "12345678", "12345678"),
    ("auth_key", "[S3cretListA, S3cretListB]", "S3cretList"),
    ("priv_key", "87654321", "87654321"),
    ("community", "424242", "424242"),
    ("community", "{S3cretKey: S3cretValue}", "S3cret"),
]


@pytest.mark.parametrize(("field", "value", "secret"), WRONG_TYPED)
def test_a_wrong_typed_secret_is_reported_without_its_value(field: str, value: str, secret: str) -> None:
    auth = "" if field == "auth_key" else "auth_key: AuthS3cret-1, "  # a key given twice is a problem of its own
    item = f"    - {{host: 127.0.0.1, version: '3', user: ops, inform: true, {auth}{field}: {value}}}\n"
    with pytest.raises(ConfigError) as info:
        config.parse(snmp(item), "t.yaml")
    (problem,) = [str(p) for p in info.value.problems]
    assert f"alerts.snmp[0].{field}: expected str" in problem and "Fix: " in problem
    assert secret not in problem and secret not in str(info.value)


def test_repr_and_str_of_the_config_hide_secrets_but_say_they_are_set() -> None:
    c = config.parse(snmp(V3, V2C))
    v3, v2c = c.alerts.snmp
    for obj in (c, c.alerts, v3, v2c):
        for text in (repr(obj), str(obj)):
            assert not any(s in text for s in SECRETS), text
    assert "auth_key=<redacted>" in repr(v3) and "priv_key=<redacted>" in repr(v3) and "host='127.0.0.1'" in repr(v3)
    assert "community=<redacted>" in repr(v2c) and "auth_key=None" in repr(v2c)


def test_redact_knows_the_secret_fields_by_name_or_path() -> None:
    assert redact.is_secret("alerts.snmp[3].priv_key") and redact.is_secret("community")
    assert not redact.is_secret("alerts.snmp[0].user") and not redact.is_secret("bond.name")
    assert redact.scrub("bad key AuthS3cret-1 for ops", ["AuthS3cret-1", None]) == "bad key <redacted> for ops"


async def test_status_of_the_alert_sinks_carries_no_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What `bondctl status` shows of the sinks, after a receiver refused a trap with a chatty error."""
    async def refuse(engine: Any, auth: Any, *args: Any) -> tuple[str, int, int, list[Any]]:
        echoed = "C0mmunityS3cret" if isinstance(auth, snmp_sink.CommunityData) else "AuthS3cret-1/PrivS3cret-2"
        return f"authentication failure for {auth!r} with {echoed}", 0, 0, []

    monkeypatch.setattr(snmp_sink, "send_notification", refuse)
    c = config.parse(snmp(V3, V2C))
    sinks = build_sinks(c.alerts, journal_socket=tmp_path / "no-journal", stdout=io.StringIO())
    for sink in sinks[1:]:
        with pytest.raises(SinkUnavailable) as info:
            await sink.send(Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1"))
        assert not any(s in str(info.value) for s in SECRETS), info.value
    alerts = Dispatcher(sinks, 10, retry_initial=0.01, retry_max=0.01)
    alerts.start()
    alerts.publish(Event(EventType.FAILOVER, "bond0", old_active="vf0", new_active="vf1"))
    await alerts.queues[1].drain(0.05)
    status = json.dumps(alerts.stats())
    await alerts.close(timeout=0)
    assert "authentication failure" in status and not any(s in status for s in SECRETS), status
