"""A config holding SNMP secrets that group or others can read gets a warning naming `chmod 600`."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfbond import config
from vfbond.config import advice, unit_fit
from vfbond.ctl import bondctl as cli
from vfbond.shared import exitcodes

BASE = "bond:\n  slaves: [{mac: 'fa:16:3e:00:00:01'}, {mac: 'fa:16:3e:00:00:02'}]\n"
V2C = BASE + "alerts:\n  snmp: [{host: 192.0.2.60, community: C0mmunityS3cret}]\n"
V3 = BASE + ("alerts:\n  snmp: [{host: 192.0.2.60, version: '3', user: ops, auth_key: AuthS3cret-1, "
             "priv_key: PrivS3cret-2, inform: true}]\n")


def exposed(text: str, mode: int) -> str | None:
    found = advice.secrets_exposed(config.parse(text), "/etc/vfbond/vfbond.yaml", mode)
    return str(found) if found else None


@pytest.mark.parametrize(("mode", "who"), [(0o644, "group and others"), (0o640, "group"), (0o604, "others")])
def test_secrets_readable_by_group_or_others_are_named_with_chmod_600(mode: int, who: str) -> None:
    w = exposed(V2C, mode)
    assert w == (f"/etc/vfbond/vfbond.yaml: holds secrets (alerts.snmp[0].community) and is readable by {who} "
                 f"(mode {mode:04o}). Fix: chmod 600 /etc/vfbond/vfbond.yaml"), w
    assert "C0mmunityS3cret" not in w


def test_v3_keys_are_secrets_too() -> None:
    w = exposed(V3, 0o644)
    assert w and "alerts.snmp[0].auth_key, alerts.snmp[0].priv_key" in w and "S3cret" not in w


@pytest.mark.parametrize(("text", "mode"), [(V2C, 0o600), (V3, 0o400), (BASE, 0o644),
                                            (BASE + "alerts:\n  snmp: [{host: 192.0.2.60}]\n", 0o644)])
def test_no_warning_without_secrets_or_for_an_owner_only_file(text: str, mode: int) -> None:
    """The default community (`public`) is no secret."""
    assert exposed(text, mode) is None


def test_check_config_warns_of_the_file_as_installed_by_cp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(unit_fit, "installed", lambda: None)
    path = tmp_path / "vfbond.yaml"
    path.write_text(V2C)
    path.chmod(0o644)  # what `cp` gives under umask 022
    assert cli.main(["check-config", "-c", str(path)]) == exitcodes.OK
    out = capsys.readouterr().out
    assert f"warning: {path}: holds secrets" in out and out.rstrip().endswith(f"Fix: chmod 600 {path}"), out
    path.chmod(0o600)
    assert cli.main(["check-config", "-c", str(path)]) == exitcodes.OK
    assert "warning" not in capsys.readouterr().out


def test_doctor_gets_the_same_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """doctor's gather puts advice.warnings into its facts; each becomes a WARN line (test_unit_fit)."""
    monkeypatch.setattr(unit_fit, "installed", lambda: None)
    path = tmp_path / "vfbond.yaml"
    path.write_text(V3)
    path.chmod(0o640)
    (w,) = advice.warnings(config.load(path))
    assert w.fix == f"chmod 600 {path}"
