"""Day0 user-data rendering: the plain #cloud-config, the ESC MIME form, and what they make the VM do."""

from __future__ import annotations

import email
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from vfbond.config import ConfigError
from vfbond.ctl import day0
from vfbond.ctl.bondctl import main
from vfbond.shared import exitcodes

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "vfbond.yaml"
SHIPPED = ROOT / "cloud-init" / "user-data.yaml"
UNIT = ROOT / "units" / "vfbondd.service"


@pytest.fixture
def d() -> day0.Day0:
    return day0.load(str(EXAMPLE))


def runcmd_script(cloud_config: str) -> str:
    doc = yaml.safe_load(cloud_config)
    (cmd,) = doc["runcmd"]
    assert cmd[:2] == ["sh", "-euc"], "runcmd must stop at the first failing line"
    return cmd[2]


def test_shipped_user_data_is_the_rendering_of_the_example(d: day0.Day0) -> None:
    assert SHIPPED.read_text() == day0.cloud_config(d), (
        "cloud-init/user-data.yaml is stale: bondctl day0 render -c examples/vfbond.yaml -o cloud-init/user-data.yaml")


def test_cloud_config_writes_the_config_and_unit_verbatim(d: day0.Day0) -> None:
    text = day0.cloud_config(d)
    assert text.startswith("#cloud-config\n")
    files = {f["path"]: f for f in yaml.safe_load(text)["write_files"]}
    assert files["/etc/vfbond/vfbond.yaml"]["content"] == EXAMPLE.read_text()
    assert files["/etc/vfbond/vfbond.yaml"]["permissions"] == "0600"  # may hold SNMPv3 keys
    assert files["/etc/systemd/system/vfbondd.service"]["content"] == UNIT.read_text()


def test_runcmd_installs_offline_checks_then_starts(d: day0.Day0) -> None:
    lines = [line for line in runcmd_script(day0.cloud_config(d)).splitlines() if not line.startswith("#")]
    assert "--no-index" in lines[1] and "--find-links /opt/vfbond/wheelhouse vfbond" in lines[1]
    order = [next(i for i, line in enumerate(lines) if key in line)
             for key in ("-m venv /opt/vfbond", "pip install", "vfbondd --check", "enable vfbondd",
                         "reload-or-restart vfbondd")]
    assert order == sorted(order), lines


def test_runcmd_links_every_man_page_the_wheel_installs(d: day0.Day0) -> None:
    """pyproject's data-files put them in the venv; man(1) looks in /usr/local/share/man."""
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    pages = [f"{folder}/{Path(source).name}" for folder, sources in data_files.items() for source in sources]
    assert pages, "pyproject.toml installs no man page"
    lines = runcmd_script(day0.cloud_config(d)).splitlines()
    for page in pages:
        assert f"ln -sf {day0.PREFIX}/{page} /usr/local/{page}" in lines, page


def test_unit_execstart_is_the_binary_day0_installs() -> None:
    (exec_start,) = [line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart=")]
    assert exec_start.split("=", 1)[1].split()[0] == f"{day0.PREFIX}/bin/vfbondd"


def test_paths_are_shell_quoted_and_scripts_parse(tmp_path: Path) -> None:
    d = day0.load(str(EXAMPLE), wheelhouse="/srv/wheels; rm -rf x", python="python3.11")
    script = runcmd_script(day0.cloud_config(d))
    assert "--find-links '/srv/wheels; rm -rf x' vfbond" in script
    for text in (script, day0.boothook(d)):
        done = subprocess.run(["sh", "-n"], input=text, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr


def test_relative_wheelhouse_is_refused() -> None:
    with pytest.raises(day0.Day0Error) as info:
        day0.load(str(EXAMPLE), wheelhouse="wheelhouse")
    assert info.value.code == exitcodes.USAGE and "absolute" in str(info.value)


def test_mime_is_a_boothook_then_the_plain_cloud_config(d: day0.Day0) -> None:
    msg = email.message_from_string(day0.mime(d))
    assert msg.get_content_type() == "multipart/mixed"
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == ["text/cloud-boothook", "text/cloud-config"]
    assert [p.get_filename() for p in parts] == ["vfbond-boothook.sh", "vfbond-cloud-config.yaml"]
    assert parts[1].get_payload(decode=True).decode() == day0.cloud_config(d)
    assert day0.mime(d) == day0.mime(d)  # fixed boundary: reproducible output


def test_boothook_writes_the_same_files_once_per_instance_and_does_not_block(d: day0.Day0) -> None:
    hook = day0.boothook(d)
    assert hook.startswith("#!/bin/sh\n")
    config = re.search(r"<<'VFBOND_CONFIG_EOF'\n(.*?)^VFBOND_CONFIG_EOF$", hook, re.DOTALL | re.MULTILINE)
    unit = re.search(r"<<'VFBOND_UNIT_EOF'\n(.*?)^VFBOND_UNIT_EOF$", hook, re.DOTALL | re.MULTILINE)
    assert config and config.group(1) == EXAMPLE.read_text()
    assert unit and unit.group(1) == UNIT.read_text()
    assert '[ -e "$sem" ] && exit 0' in hook and hook.rstrip().endswith('date > "$sem"')
    # init stage runs before sysinit.target: a blocking start of vfbondd would deadlock the boot
    assert "systemctl start --no-block vfbondd.service" in hook and "enable --now" not in hook


def test_a_content_line_that_ends_the_heredoc_is_refused(d: day0.Day0) -> None:
    bad = day0.Day0(config_text=d.config_text + "VFBOND_CONFIG_EOF\n", unit_text=d.unit_text)
    with pytest.raises(day0.Day0Error, match="here-document"):
        day0.boothook(bad)


def test_render_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "user-data"
    assert main(["day0", "render", "-c", str(EXAMPLE), "-o", str(out)]) == exitcodes.OK
    assert out.read_text() == SHIPPED.read_text() and out.stat().st_mode & 0o777 == 0o600
    assert main(["day0", "render", "-c", str(EXAMPLE), "--mime"]) == exitcodes.OK
    assert capsys.readouterr().out.startswith('Content-Type: multipart/mixed; boundary="==vfbond-day0=="')


def test_invalid_config_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "vfbond.yaml"
    bad.write_text("bond:\n  slaves: [{mac: fa:16:3e:00:00:01}]\n  fail_over_mac: none\n")
    out = tmp_path / "user-data"
    assert main(["day0", "render", "-c", str(bad), "-o", str(out), "--mime"]) == exitcodes.USAGE
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]
    err = capsys.readouterr().err
    assert "exactly two slaves" in err and "fail_over_mac" in err
    with pytest.raises(ConfigError):
        day0.load(str(bad))


def test_config_for_another_vm_is_not_checked_against_this_host(tmp_path: Path) -> None:
    """The group and the CA file exist in the VM that runs the config, not where day0 is rendered."""
    config = tmp_path / "vfbond.yaml"
    config.write_text(EXAMPLE.read_text().replace(
        "backend: auto", "backend: auto\ndaemon: {socket_group: vfbond-ops-not-here}").replace(
        "  syslog: []", "  syslog: [{host: 192.0.2.50, protocol: tls, ca_file: /etc/vfbond/not-here-ca.pem}]"))
    assert "vfbond-ops-not-here" in day0.load(str(config)).config_text
