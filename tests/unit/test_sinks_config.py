"""Alert settings the sinks depend on, checked when the config is read."""

import pytest

from vfbond import config
from vfbond.config import ConfigError
from vfbond.sinks import build_sinks
from vfbond.sinks.journald import StdoutSink

BOND = """\
bond:
  slaves:
    - mac: fa:16:3e:00:00:01
    - mac: fa:16:3e:00:00:02
"""


def snmp(item: str) -> str:
    return BOND + "alerts:\n  snmp:\n    - " + item.replace("\n", "\n      ") + "\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.parse(text, "t.yaml")
    return [str(p) for p in info.value.problems]


V3 = "host: 127.0.0.1\nversion: '3'\nuser: ops\nauth_key: auth-secret\npriv_key: priv-secret"


def test_a_v3_trap_needs_the_engine_id_the_receiver_knows() -> None:
    [found] = problems(snmp(V3))
    assert found.startswith("t.yaml:7: alerts.snmp[0].engine_id: SNMPv3 traps are sent with this host's engine ID")
    assert "Fix: set engine_id:" in found
    assert config.parse(snmp(V3 + "\ninform: true")).alerts.snmp[0].engine_id is None  # informs discover it
    target = config.parse(snmp(V3 + "\nengine_id: '0x80001f888056666f6e64'")).alerts.snmp[0]
    assert target.engine_id == "0x80001f888056666f6e64"


@pytest.mark.parametrize("engine_id", ["'0x1234'", "'xyz0102030405'", "'80001f88805'"])
def test_an_engine_id_is_5_to_32_octets_in_hex(engine_id: str) -> None:
    [found] = problems(snmp(V3 + f"\nengine_id: {engine_id}"))
    assert "alerts.snmp[0].engine_id:" in found and "is not an engine ID" in found


def test_privacy_needs_authentication() -> None:
    [found] = problems(snmp("host: 127.0.0.1\nversion: '3'\nuser: ops\npriv_key: priv-secret\ninform: true"))
    assert "alerts.snmp[0].priv_key: SNMPv3 has no privacy without authentication. Fix: add auth_key:" in found


def test_build_sinks_makes_one_sink_per_target_after_the_journal(tmp_path) -> None:
    alerts = config.parse(BOND + """\
alerts:
  syslog:
    - {host: 127.0.0.1, protocol: udp}
    - {host: 127.0.0.1, protocol: tcp, port: 1514}
  snmp:
    - {host: 127.0.0.1, version: 2c, inform: true}
""").alerts
    sinks = build_sinks(alerts, journal_socket=tmp_path / "absent")
    assert isinstance(sinks[0], StdoutSink)
    assert [s.name for s in sinks[1:]] == ["syslog udp://127.0.0.1:514", "syslog tcp://127.0.0.1:1514",
                                           "snmp v2c inform 127.0.0.1:162"]
