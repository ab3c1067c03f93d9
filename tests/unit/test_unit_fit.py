"""Every path and port the config names must work under the shipped unit, or a warning names the drop-in."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from vfbond import config
from vfbond.config import unit_fit
from vfbond.config.unit_fit import Sandbox, misfits
from vfbond.ctl import bondctl as cli
from vfbond.ctl import doctor
from vfbond.ctl.doctor import Facts
from vfbond.shared import exitcodes

UNIT_FILE = Path(__file__).parents[2] / "units" / "vfbondd.service"
BASE = "bond:\n  slaves: [{mac: 'fa:16:3e:00:00:01'}, {mac: 'fa:16:3e:00:00:02'}]\n"
README_TEXTFILE = "/var/lib/node_exporter/textfile_collector"  # README's "Prometheus" example


def fit(extra: str, sb: Sandbox | None = None) -> list[str]:
    return [str(m) for m in misfits(config.parse(BASE + extra, host_checks=False), sb or unit_fit.shipped())]


def test_the_packaged_unit_is_the_shipped_one_and_reads_as_its_sandbox() -> None:
    sb = unit_fit.parse(UNIT_FILE.read_text())
    assert sb == unit_fit.shipped()
    assert (sb.protect_system, sb.protect_home, sb.private_tmp) == ("strict", "yes", True)
    assert {"/var/lib/vfbond", "/run/vfbond", "/etc/sysconfig/network-scripts"} <= set(sb.writable)
    assert sb.capabilities == {"cap_net_admin", "cap_net_raw", "cap_chown", "cap_syslog"}


def test_the_defaults_fit_the_shipped_unit() -> None:
    assert fit("") == []


def test_readmes_textfile_example_fits_the_shipped_unit() -> None:
    assert fit(f"metrics: {{textfile_dir: {README_TEXTFILE}}}\n") == []


def test_another_textfile_dir_names_its_readwritepaths_drop_in() -> None:
    (w,) = fit("metrics: {textfile_dir: /srv/metrics}\n")
    assert w.startswith("metrics.textfile_dir: /srv/metrics is read-only to vfbondd (ProtectSystem=strict")
    assert w.endswith("Fix: systemctl edit vfbondd, and under [Service] add ReadWritePaths=/srv/metrics"), w


def test_a_socket_outside_run_vfbond_names_its_drop_in() -> None:
    (w,) = fit("daemon: {socket: /run/other/control.sock}\n")
    assert w.startswith("daemon.socket: /run/other is read-only") and "vfbondd exits 10 at start" in w
    assert w.endswith("ReadWritePaths=/run/other"), w


def test_a_socket_under_tmp_lands_in_the_private_tmp() -> None:
    (w,) = fit("daemon: {socket: /tmp/vfbond.sock}\n")
    assert "PrivateTmp=yes" in w and "nothing outside sees it" in w and "e.g. /run/vfbond/control.sock" in w, w
    assert "exits" not in w, w  # vfbondd can write its private /tmp: it starts, unreachable


def test_a_state_dir_outside_the_writable_paths_names_its_drop_in() -> None:
    (w,) = fit("daemon: {state_dir: /srv/vfbond}\n")
    assert w.startswith("daemon.state_dir: /srv/vfbond is read-only") and w.endswith("ReadWritePaths=/srv/vfbond")
    assert "not kept, and vfbondd exits 10 at start, before it touches the bond. Fix:" in w, w


def test_an_ifcfg_dir_of_its_own_names_its_drop_in() -> None:
    (w,) = fit("ifcfg_dir: /etc/network-scripts\n")
    assert w.startswith("ifcfg_dir: /etc/network-scripts is read-only") and w.endswith(
        "ReadWritePaths=/etc/network-scripts")


@pytest.mark.parametrize("path", ["/root/ca.pem", "/home/ops/ca.pem"])
def test_a_ca_file_under_home_or_root_is_hidden_by_protecthome(path: str) -> None:
    (w,) = fit(f"alerts:\n  syslog: [{{host: 192.0.2.50, protocol: tls, ca_file: {path}}}]\n")
    assert w.startswith(f"alerts.syslog[0].ca_file: {path} is under /") and "ProtectHome=yes" in w
    assert "exits 2" in w and w.endswith("ProtectHome=read-only"), w


def test_a_privileged_http_port_needs_cap_net_bind_service() -> None:
    (w,) = fit("metrics: {http_port: 80}\n")
    assert w.startswith("metrics.http_port: port 80 is below 1024") and "CAP_NET_BIND_SERVICE" in w
    assert w.endswith("CapabilityBoundingSet=CAP_NET_BIND_SERVICE (it adds to the unit's set)"), w
    assert fit("metrics: {http_port: 9862}\n") == []


def test_a_drop_in_that_fixes_it_silences_the_warning() -> None:
    """What `systemctl show` prints once the drop-in is in place: the warning must go."""
    show = ("LoadState=loaded\nProtectSystem=strict\nProtectHome=yes\nPrivateTmp=yes\n"
            "ReadWritePaths=-/etc/sysconfig/network-scripts /srv/metrics\nStateDirectory=vfbond\n"
            "RuntimeDirectory=vfbond\nCapabilityBoundingSet=cap_chown cap_net_admin cap_net_bind_service "
            "cap_net_raw cap_syslog\n")
    sb = unit_fit.parse(show)
    assert fit("metrics: {textfile_dir: /srv/metrics, http_port: 80}\n", sb) == []
    assert len(fit("metrics: {textfile_dir: /srv/other, http_port: 80}\n", unit_fit.shipped())) == 2


def test_an_empty_assignment_starts_the_list_over() -> None:
    sb = unit_fit.parse("[Service]\nReadWritePaths=/a\nReadWritePaths=\nReadWritePaths=/b\nProtectSystem=strict\n")
    assert sb.writable == ("/b",)


def test_check_config_prints_each_warning_and_still_exits_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(unit_fit, "installed", lambda: None)  # this host's systemd is not the subject
    path = tmp_path / "vfbond.yaml"
    path.write_text(BASE + "metrics: {textfile_dir: /srv/metrics, http_port: 80}\n")
    path.chmod(0o600)
    assert cli.main(["check-config", "-c", str(path)]) == exitcodes.OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(": valid (bond0 over fa:16:3e:00:00:01 + fa:16:3e:00:00:02)")
    assert [ln.split(":")[:2] for ln in lines[1:]] == [["warning", " metrics.textfile_dir"],
                                                        ["warning", " metrics.http_port"]], lines
    assert cli.main(["check-config", "--json", "-c", str(path)]) == exitcodes.OK
    assert len(json.loads(capsys.readouterr().out)["warnings"]) == 2


def test_doctor_shows_each_warning_as_a_warn_line(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    c = config.parse(BASE + "daemon: {socket: /tmp/vfbond.sock}\n", "/etc/vfbond/vfbond.yaml")
    facts = Facts(config_path=c.source, config=c, config_problems=[], bond_name="bond0", bond=None, links=[],
                  slave_addresses={}, daemon=None, daemon_error="no socket",
                  config_warnings=misfits(c, unit_fit.shipped()))
    monkeypatch.setattr(doctor, "gather", lambda *args: facts)
    assert doctor.cmd_doctor(argparse.Namespace(config=c.source, bond="bond0", socket=c.daemon.socket, json=False)) \
        == exitcodes.FAILED  # no bond: the warning comes beside the failures
    out = capsys.readouterr().out
    assert "WARN  config-fit     daemon.socket: /tmp/vfbond.sock is under /tmp, which PrivateTmp=yes" in out, out
    assert "fix: use a path outside /home, /root, /run/user, /tmp, /var/tmp, e.g. /run/vfbond/control.sock" \
        in out, out
