import re
from pathlib import Path

import pytest

from tests.host.test_sinks_syslog import make_certs
from vfbond import config, daemon
from vfbond.config import ConfigError
from vfbond.ctl import bondctl as cli
from vfbond.shared import exitcodes

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


# --- Every bad input: exit 2, `file:line: field: what. Fix: how`, never a traceback -------------

SLAVES = "bond:\n  slaves:\n    - mac: fa:16:3e:00:00:01\n    - mac: fa:16:3e:00:00:02\n"
SYSLOG_TLS = SLAVES + "alerts:\n  syslog:\n    - host: 192.0.2.50\n      protocol: tls\n"

# (case, file contents, the `file:line: field:` every report must start with)
BAD: list[tuple[str, bytes, str]] = [
    ("non-utf8", b"bond:\n  name: b\xff0\n", "t.yaml:2: <file>:"),
    ("binary", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00", "t.yaml:1: <file>:"),
    ("syslog-int", (SLAVES + "alerts:\n  syslog: 5\n").encode(), "t.yaml:6: alerts.syslog:"),
    ("snmp-bool", (SLAVES + "alerts:\n  snmp: true\n").encode(), "t.yaml:6: alerts.snmp:"),
    ("syslog-mapping", (SLAVES + "alerts:\n  syslog: {host: 192.0.2.50}\n").encode(), "t.yaml:6: alerts.syslog:"),
    ("null-mac", b"bond:\n  slaves:\n    - mac:\n    - mac: fa:16:3e:00:00:02\n", "t.yaml:3: bond.slaves[0].mac:"),
    ("null-name", b"bond:\n  slaves:\n    - name:\n    - name: ens7\n", "t.yaml:3: bond.slaves[0].name:"),
    ("same-mac-any-case", b"bond:\n  slaves:\n    - mac: FA:16:3E:00:00:01\n    - mac: fa:16:3e:00:00:01\n",
     "t.yaml:4: bond.slaves[1].mac:"),
    ("unknown-group", (SLAVES + "daemon:\n  socket_group: no-such-group-vfbond\n").encode(),
     "t.yaml:6: daemon.socket_group:"),
    ("syslog-port-0", (SYSLOG_TLS + "      port: 0\n").encode(), "t.yaml:9: alerts.syslog[0].port:"),
    ("snmp-port-big", (SLAVES + "alerts:\n  snmp:\n    - host: 192.0.2.60\n      port: 70000\n").encode(),
     "t.yaml:8: alerts.snmp[0].port:"),
    ("missing-ca-file", (SYSLOG_TLS + "      ca_file: /nonexistent/vfbond-ca.pem\n").encode(),
     "t.yaml:9: alerts.syslog[0].ca_file:"),
    ("relative-ca-file", (SYSLOG_TLS + "      ca_file: ca.pem\n").encode(), "t.yaml:9: alerts.syslog[0].ca_file:"),
    # YAML reads `protocol: 1` as an int; only the sysfs options have numeric spellings.
    ("numeric-protocol", (SYSLOG_TLS.replace("tls", "1")).encode(), "t.yaml:8: alerts.syslog[0].protocol:"),
    ("numeric-backend", (SLAVES + "backend: 1\n").encode(), "t.yaml:5: backend:"),
    ("scoped-gateway", (SLAVES + "  ipv6:\n    addresses: ['2001:db8::10/64']\n    gateway: fe80::1%bond0\n").encode(),
     "t.yaml:7: bond.ipv6.gateway:"),
    ("top-level-list", b"- bond\n", "t.yaml:1: <top>:"),
]


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "t.yaml"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("case", "data", "where"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_input_is_one_line_per_problem_with_field_and_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              case: str, data: bytes, where: str) -> None:
    monkeypatch.chdir(tmp_path)  # `file` is then just t.yaml
    write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        config.load("t.yaml")
    assert info.value.problems, case
    for p in info.value.problems:
        text = str(p)
        assert "\n" not in text, text
        assert text.startswith(where), text
        assert re.search(r"\. Fix: \S", text), text


@pytest.mark.parametrize(("case", "data", "where"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_input_exits_2_from_both_commands_without_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, data: bytes, where: str) -> None:
    path = write(tmp_path, data)
    assert cli.main(["check-config", "-c", str(path)]) == exitcodes.USAGE
    assert daemon.main(["--check", "-c", str(path)]) == exitcodes.USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count(where.split(":", 2)[2].strip()) >= 2, err


def test_every_failed_check_has_a_fix() -> None:
    """One file that trips every value check at once: no report may leave Fix: empty."""
    text = """\
bond:
  name: 'not a valid name'
  slaves: [{mac: zz, name: 'a b', label: 5}, {mac: zz}]
  miimon: 0
  updelay: -1
  downdelay: -1
  num_grat_arp: 999
  num_unsol_na: 999
  mtu: 10
  primary: nope
  ipv4: {addresses: [x], gateway: y}
probes: {targets: [x], interval_ms: 1, timeout_ms: 0, failures: 0, window: 0}
alerts:
  queue_size: 0
  flap_limit: 0
  syslog: [{host: h, port: -1, protocol: x, app_name: 5}]
  snmp: [{host: h, port: -1, version: '3', engine_id: zz, auth_key: s, priv_key: s, inform: 5}]
daemon: {history: 0, socket: 5, state_dir: 5}
"""
    found = problems(text)
    assert len(found) > 20
    for p in found:
        assert re.search(r"\. Fix: \S", p), p


def test_ipv6_link_local_gateway_is_accepted() -> None:
    """Routers advertise their link-local address; it is in no configured subnet and needs none."""
    c = config.parse(GOOD + "  ipv6: {addresses: ['2001:db8::10/64'], gateway: 'fe80::1'}\n")
    assert c.bond.ipv6.gateway == "fe80::1"


def test_global_ipv6_gateway_outside_the_subnets_is_still_refused() -> None:
    (p,) = problems(GOOD + "  ipv6: {addresses: ['2001:db8::10/64'], gateway: '2001:db9::1'}\n")
    assert "bond.ipv6.gateway" in p and "none of the bond's subnets" in p


def test_ca_file_that_is_no_certificate_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    (p,) = problems(SYSLOG_TLS + f"      ca_file: {tmp_path / 'ca.pem'}\n")
    assert "alerts.syslog[0].ca_file" in p and "no PEM certificate" in p


def test_existing_group_and_ca_file_are_accepted(tmp_path: Path) -> None:
    ca = make_certs(tmp_path) / "ca.pem"
    c = config.parse(SYSLOG_TLS + f"      ca_file: {ca}\ndaemon:\n  socket_group: root\n")
    assert c.alerts.syslog[0].ca_file == str(ca) and c.daemon.socket_group == "root"


def test_host_checks_can_be_left_to_the_target_machine() -> None:
    """day0 render validates a file for another VM: its groups and CA files are not on this host."""
    text = SYSLOG_TLS + "      ca_file: /nonexistent/ca.pem\ndaemon:\n  socket_group: no-such-group-vfbond\n"
    c = config.parse(text, host_checks=False)
    assert c.daemon.socket_group == "no-such-group-vfbond"


@pytest.mark.parametrize("family", ["ipv4: {gateway: 10.0.0.1}", "ipv6: {gateway: 'fe80::1'}"])
def test_a_gateway_without_addresses_is_refused(family: str) -> None:
    """NetworkManager and ifcfg leave a family without addresses off: its gateway would be dropped silently."""
    text = "bond:\n  slaves:\n    - mac: fa:16:3e:00:00:01\n    - name: ens7\n  " + family + "\n"
    (p,) = problems(text)
    assert p.startswith("t.yaml:5: bond.ipv") and ".gateway: " in p and "without addresses" in p


def _laughs(levels: int = 8) -> str:
    """Anchors a0..a7, each ten aliases of the one before (10**8 values once expanded), used everywhere."""
    lines = ["x0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    top = f"*a{levels - 1}"
    return "\n".join(lines) + (f"\nbond:\n  mode: {top}\n  slaves: {top}\n  ipv4: {{addresses: {top}}}\n"
                               f"probes: {{targets: {top}}}\nalerts:\n  snmp: [{{host: h, version: {top}}}]\n")


HOSTILE = [
    ("recursive-alias", "bond: &b\n  slaves: [*b, *b]\n"),
    ("alias-bomb", _laughs()),
    ("deep-nesting", "bond: " + "[" * 5000 + "]" * 5000 + "\n"),
    ("huge-integer", "bond:\n  miimon: " + "9" * 5000 + "\n"),  # past Python's int-from-string limit
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("case", "text"), HOSTILE, ids=[case for case, _ in HOSTILE])
def test_hostile_yaml_is_a_short_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              case: str, text: str) -> None:
    """Aliases are shared, not copied: neither the line map nor a message may expand them."""
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert 0 < len(str(info.value)) < 20_000, len(str(info.value))
    for p in info.value.problems:
        assert p.line and "\n" not in str(p) and re.search(r"\. Fix: \S", str(p)), str(p)
    assert cli.main(["check-config", "-c", str(path)]) == exitcodes.USAGE
    assert "Traceback" not in capsys.readouterr().err


def test_bounce_after_a_pf_reset_defaults_to_30s_accepts_0_and_refuses_too_short() -> None:
    assert config.parse(GOOD).failover.bounce_after_s == 30
    assert config.parse(GOOD + "failover: {bounce_after_s: 0}\n").failover.bounce_after_s == 0
    (p,) = problems(GOOD + "failover:\n  bounce_after_s: 2\n")
    assert p.startswith("t.yaml:7: failover.bounce_after_s: 2 is neither 0 nor 5..3600 seconds")
    assert "Fix: set 0 (never bounce) or 5..3600 seconds" in p


def test_what_the_file_leaves_out_is_the_dataclass_default() -> None:
    """The readers take every default from the dataclass fields, the one place it is written."""
    c = config.parse(GOOD + "alerts:\n  syslog: [{host: h}]\n  snmp: [{host: h}]\n")
    assert (c.failover, c.probes, c.daemon, c.metrics) == (
        config.FailoverConfig(), config.ProbeConfig(), config.DaemonConfig(), config.MetricsConfig())
    assert c.alerts == config.AlertConfig(syslog=(config.SyslogTarget("h"),), snmp=(config.SnmpTarget("h"),))
    assert c.bond == config.BondConfig(slaves=c.bond.slaves, ipv4=c.bond.ipv4)
    assert (c.backend, c.ifcfg_dir) == (config.Config.backend, config.Config.ifcfg_dir)


# --- Configs that PyYAML or the kernel would take but must be refused ------------------------------

DUPLICATES = [
    ("bond", GOOD.replace("bond:\n", "bond:\n  miimon: 100\n") + "  miimon: 5000\n", "t.yaml:7: bond.miimon:", 2, 7),
    ("slave", GOOD.replace("- name: ens7", "- name: ens7\n      name: ens8"), "t.yaml:5: bond.slaves[1].name:", 4, 5),
    ("top", GOOD + "backend: nm\nbackend: netlink\n", "t.yaml:7: backend:", 6, 7),
]


@pytest.mark.parametrize(("case", "text", "where", "first", "second"), DUPLICATES, ids=[d[0] for d in DUPLICATES])
def test_a_key_given_twice_is_refused_naming_both_lines(case: str, text: str, where: str, first: int,
                                                        second: int) -> None:
    """PyYAML keeps the last of two equal keys silently: `miimon: 100` ... `miimon: 5000` would be 5000."""
    (p,) = problems(text)
    assert p.startswith(where) and f"lines {first} and {second}" in p and "Fix: remove one of them" in p, p


def test_a_merge_key_may_still_override_what_it_merges() -> None:
    """`<<: *base` then `miimon: 200` is YAML's override, not a duplicate."""
    c = config.parse(GOOD.replace("bond:\n", "bond:\n  <<: {miimon: 100}\n") + "  miimon: 200\n")
    assert c.bond.miimon == 200


# (field: value, where the report starts, the range it must name)
OUT_OF_RANGE = [
    ("miimon: 1000000000000000000000000000000", "t.yaml:2: bond.miimon:", "1..60000"),
    ("miimon: 2147483648", "t.yaml:2: bond.miimon:", "1..60000"),
    ("miimon: 0", "t.yaml:2: bond.miimon:", "1..60000"),
    ("updelay: 1000000000000", "t.yaml:2: bond.updelay:", "0..600000"),
    ("downdelay: -100", "t.yaml:2: bond.downdelay:", "0..600000"),
    ("num_grat_arp: 256", "t.yaml:2: bond.num_grat_arp:", "0..255"),
    ("num_unsol_na: -1", "t.yaml:2: bond.num_unsol_na:", "0..255"),
    ("mtu: 67", "t.yaml:2: bond.mtu:", "68..65535"),
    ("mtu: 65536", "t.yaml:2: bond.mtu:", "68..65535"),
]


@pytest.mark.parametrize(("line", "where", "bounds"), OUT_OF_RANGE, ids=[c[0] for c in OUT_OF_RANGE])
def test_every_integer_the_kernel_bounds_is_range_checked_naming_the_range(line: str, where: str,
                                                                           bounds: str) -> None:
    (p,) = problems(GOOD.replace("bond:\n", f"bond:\n  {line}\n"))
    assert p.startswith(where) and bounds in p.split(". Fix: ")[0] and bounds in p.split(". Fix: ")[1], p


def test_a_float_or_exponent_miimon_is_refused() -> None:
    """`1e30` is a string to YAML 1.1 and `1.0e+30` a float: neither is an int of ms."""
    for value in ("1e30", "1.0e+30", "100.0"):
        (p,) = problems(GOOD.replace("bond:\n", f"bond:\n  miimon: {value}\n"))
        assert p.startswith("t.yaml:2: bond.miimon: expected int"), p


def test_a_jumbo_mtu_the_kernel_takes_is_accepted() -> None:
    assert config.parse(GOOD.replace("bond:\n", "bond:\n  mtu: 9702\n")).bond.mtu == 9702


def test_an_mtu_below_1280_with_ipv6_addresses_is_refused() -> None:
    """Below IPv6's minimum link MTU (RFC 8200) the kernel turns IPv6 off on the bond: its addresses go."""
    text = GOOD.replace("bond:\n", "bond:\n  mtu: 1279\n") + "  ipv6: {addresses: ['2001:db8::10/64']}\n"
    (p,) = problems(text)
    assert p.startswith("t.yaml:2: bond.mtu:") and "1280" in p and "IPv6" in p, p
    assert config.parse(text.replace("1279", "1280")).bond.mtu == 1280
    assert config.parse(GOOD.replace("bond:\n", "bond:\n  mtu: 1279\n")).bond.mtu == 1279


@pytest.mark.parametrize("label", ['"sriov0\\nINTEGER: 1"', "'sriov 0'", "'a;b'", "''", "x" * 33, '"vf0\\n"'])
def test_a_label_outside_the_safe_set_is_refused(label: str) -> None:
    """A label is an SNMP string (pass_persist is a line protocol: a newline would forge the next line),
    a Prometheus label value and a word of status output."""
    (p,) = problems(GOOD.replace("- name: ens7", f"- name: ens7\n      label: {label}"))
    assert p.startswith("t.yaml:5: bond.slaves[1].label:") and "A-Za-z0-9_.-" in p and "1..32" in p, p


def test_a_label_of_letters_digits_dot_dash_underscore_is_accepted() -> None:
    c = config.parse(GOOD.replace("- name: ens7", "- name: ens7\n      label: NUMA-1_vf.b"))
    assert c.bond.slaves[1].label == "NUMA-1_vf.b"


NEWLINE_ENDED = [("  name: \"bond0\\n\"\n", "t.yaml:2: bond.name:"),
                 ("    - mac: \"fa:16:3e:00:00:03\\n\"\n", "t.yaml:3: bond.slaves[0].mac:")]


@pytest.mark.parametrize(("line", "where"), NEWLINE_ENDED)
def test_a_trailing_newline_does_not_pass_the_name_or_mac_pattern(line: str, where: str) -> None:
    """`$` matches before a final newline: the patterns must match the whole value."""
    text = GOOD.replace("bond:\n", "bond:\n" + line) if "name" in line else \
        GOOD.replace("    - mac: FA:16:3E:00:00:01\n", line)
    (p,) = problems(text)
    assert p.startswith(where), p


@pytest.mark.parametrize(("mac", "why"), [("01:00:5e:00:00:01", "multicast"), ("FB:16:3E:00:00:01", "multicast"),
                                          ("ff:ff:ff:ff:ff:ff", "multicast"), ("00:00:00:00:00:00", "all-zero")])
def test_a_vf_mac_must_be_unicast_and_not_all_zero(mac: str, why: str) -> None:
    """No NIC carries a multicast or zero MAC: such a slave would never be found, or match the wrong frames."""
    (p,) = problems(GOOD.replace("FA:16:3E:00:00:01", mac))
    assert p.startswith("t.yaml:3: bond.slaves[0].mac:") and why in p and "Fix: " in p, p


@pytest.mark.parametrize(("text", "where"), [("daemon:\n  socket: vfbond.sock\n", "t.yaml:7: daemon.socket:"),
                                             ("daemon:\n  state_dir: state\n", "t.yaml:7: daemon.state_dir:"),
                                             ("ifcfg_dir: network-scripts\n", "t.yaml:6: ifcfg_dir:")])
def test_a_relative_path_is_refused(text: str, where: str) -> None:
    """Relative to whatever directory runs vfbondd: bondctl, run elsewhere, would look somewhere else."""
    (p,) = problems(GOOD + text)
    assert p.startswith(where) and "is relative" in p and "Fix: give the absolute path" in p, p
