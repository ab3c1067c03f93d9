from pathlib import Path

import pytest

from vfbond import config
from vfbond.config import ConfigError

EXAMPLE = Path(__file__).parents[2] / "examples" / "vfbond.yaml"

GOOD = """\
bond:
  slaves:
    - mac: FA:16:3E:00:00:01
    - name: ens7
  ipv4: {addresses: [10.0.0.5/24], gateway: 10.0.0.1}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.parse(text, "t.yaml")
    return [str(p) for p in info.value.problems]


def test_example_mirrors_the_seed() -> None:
    c = config.load(EXAMPLE)
    assert c.bond.mode == "active-backup" and c.bond.fail_over_mac == "active"
    assert [s.mac for s in c.bond.slaves] == ["fa:16:3e:00:00:01", "fa:16:3e:00:00:02"]
    assert c.bond.ipv4.gateway == "192.0.2.1" and c.bond.ipv6.gateway == "2001:db8::1"
    assert c.bond.primary == "sriov0"


def test_defaults_and_mac_normalised() -> None:
    c = config.parse(GOOD)
    assert c.bond.name == "bond0" and c.bond.miimon == 100 and c.backend == "auto"
    assert c.bond.slaves[0].mac == "fa:16:3e:00:00:01" and c.bond.slaves[1].name == "ens7"
    assert c.bond.slaves[0].label == "sriov0"


def test_seed_numeric_fail_over_mac_1_means_active() -> None:
    c = config.parse(GOOD.replace("bond:\n", "bond:\n  fail_over_mac: 1\n"))
    assert c.bond.fail_over_mac == "active"


def test_other_modes_refused_with_line_and_fix() -> None:
    (p,) = problems(GOOD.replace("bond:\n", "bond:\n  mode: 802.3ad\n"))
    assert p.startswith("t.yaml:2: bond.mode:") and "Fix: set mode: active-backup" in p


def test_fail_over_mac_none_refused() -> None:
    (p,) = problems(GOOD.replace("bond:\n", "bond:\n  fail_over_mac: none\n"))
    assert "bond.fail_over_mac" in p and "Fix: set fail_over_mac: active" in p


def test_all_problems_reported_at_once_with_lines() -> None:
    text = "bond:\n  slaves:\n    - mac: zz\n    - name: eth3\n  miimon: 100\n  updelay: 150\n  colour: red\n"
    found = problems(text)
    assert any(p.startswith("t.yaml:3: bond.slaves[0].mac") for p in found)
    assert any(p.startswith("t.yaml:6: bond.updelay") and "multiple of miimon" in p for p in found)
    assert any(p.startswith("t.yaml:7: bond.colour: unknown field") for p in found)


def test_one_slave_is_not_a_bond() -> None:
    (p,) = problems("bond:\n  slaves:\n    - mac: fa:16:3e:00:00:01\n")
    assert "exactly two slaves" in p


def test_gateway_outside_subnet() -> None:
    (p,) = problems(GOOD.replace("gateway: 10.0.0.1", "gateway: 10.9.0.1"))
    assert "bond.ipv4.gateway" in p and "none of the bond's subnets" in p


def test_address_without_prefix() -> None:
    (p,) = problems(GOOD.replace("10.0.0.5/24", "10.0.0.5"))
    assert "bond.ipv4.addresses[0]" in p and "prefix length" in p


def test_probes_enabled_without_target() -> None:
    (p,) = problems(GOOD + "probes:\n  enabled: true\n")
    assert "probes.targets" in p


def test_yaml_syntax_error_has_line() -> None:
    (p,) = problems("bond:\n  slaves: [\n")
    assert p.startswith("t.yaml:") and "<yaml>" in p


def test_missing_file_names_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path / "nope.yaml")
    assert "examples/vfbond.yaml" in str(info.value)


def test_snmp_v3_needs_user_and_long_keys() -> None:
    found = problems(GOOD + "alerts:\n  snmp:\n    - host: 127.0.0.1\n      version: '3'\n      auth_key: short\n")
    assert any("alerts.snmp[0].user" in p for p in found)
    assert any("alerts.snmp[0].auth_key" in p for p in found)


def test_bounce_after_a_pf_reset_defaults_to_30s_accepts_0_and_refuses_too_short() -> None:
    assert config.parse(GOOD).failover.bounce_after_s == 30
    assert config.parse(GOOD + "failover: {bounce_after_s: 0}\n").failover.bounce_after_s == 0
    (p,) = problems(GOOD + "failover:\n  bounce_after_s: 2\n")
    assert p.startswith("t.yaml:7: failover.bounce_after_s: 2 is neither 0 nor 5..3600 seconds")
    assert "Fix: set 0 (never bounce) or 5..3600 seconds" in p
