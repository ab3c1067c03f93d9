"""bondctl says what is true (issue #23 item 5): the unit's reload reports a refusal, the paths it read
are named, simulate-failover proves IPv6-only bonds or refuses, a missing driver or directory is named,
--json answers wherever the help promises it, and each command lists only the options it reads."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vfbond import paths
from vfbond.ctl import day0, sources, watch
from vfbond.ctl.bondctl import main, parser
from vfbond.poll import pass_persist
from vfbond.shared import exitcodes
from vfbond.shared.events import EventType

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "vfbond.yaml"
UNIT = ROOT / "units" / "vfbondd.service"


def serve_once(path: Path, reply: dict[str, Any], connections: int = 1) -> list[dict[str, Any]]:
    """A stand-in vfbondd answering each request with `reply` over `connections` connections; the
    requests it read are returned."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    asked: list[dict[str, Any]] = []

    def answer() -> None:
        with server:
            for _ in range(connections):
                with server.accept()[0] as conn, conn.makefile("rwb") as f:
                    if line := f.readline():
                        asked.append(json.loads(line))
                        f.write(json.dumps(reply).encode() + b"\n")

    threading.Thread(target=answer, daemon=True).start()
    return asked


@pytest.fixture
def nowhere(tmp_path: Path) -> str:
    """A socket path nobody listens on: vfbondd is not running."""
    return str(tmp_path / "none.sock")


@pytest.fixture
def config_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """/etc/vfbond/vfbond.yaml, as a file of the test's (write its daemon section)."""
    config = tmp_path / "vfbond.yaml"
    monkeypatch.setattr(paths, "CONFIG", str(config))
    yield config


# --- 1. systemctl reload reports a refused reload --------------------------------------------------

def test_the_units_reload_is_bondctl_reload_which_exits_with_the_refusal(tmp_path: Path) -> None:
    (reload,) = [line for line in UNIT.read_text().splitlines() if line.startswith("ExecReload=")]
    assert reload == f"ExecReload={day0.PREFIX}/bin/bondctl reload", "the exit status must be the reload's"
    sock = tmp_path / "control.sock"
    asked = serve_once(sock, {"ok": False, "error": "bond.mode: invalid", "code": exitcodes.USAGE})
    assert main(["reload", "--socket", str(sock)]) == exitcodes.USAGE
    assert asked == [{"cmd": "reload", "args": {}}]


# --- 2. config paths: the flags, and a hint when the config names another --------------------------

def test_no_vfbondd_names_the_socket_the_config_names(nowhere: str, config_names: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config_names.write_text("daemon: {socket: /run/vfbond/other.sock}\n")
    assert main(["reload", "--socket", nowhere]) == exitcodes.NO_DAEMON
    err = capsys.readouterr().err
    assert f"no socket at {nowhere}" in err and "names daemon.socket /run/vfbond/other.sock: pass --socket " \
        "/run/vfbond/other.sock" in err, err
    config_names.write_text(f"daemon: {{socket: {nowhere}}}\n")  # the same path: nothing to hint
    main(["reload", "--socket", nowhere])
    assert "names daemon.socket" not in capsys.readouterr().err


def test_the_snmp_agents_socket_flag_is_documented_with_its_snmpd_line() -> None:
    line = "/opt/vfbond/bin/vfbond-snmp-pass --socket /run/vfbond/other.sock"
    assert line in pass_persist.parser().format_help()
    assert f"pass_persist .1.3.6.1.4.1.32473.61.3 {line}" in (ROOT / "README.md").read_text()


# --- 3. events without vfbondd name the file read ----------------------------------------------------

def test_events_without_vfbondd_name_the_history_file(nowhere: str, tmp_path: Path, config_names: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config_names.write_text("daemon: {state_dir: /srv/vfbond}\n")
    assert main(["events", "--socket", nowhere, "--state-dir", str(tmp_path)]) == exitcodes.OK
    out, err = capsys.readouterr()
    history = tmp_path / "events.jsonl"
    assert out == f"no events recorded in {history}\n"
    assert "vfbondd is not running" in err and f"{history} does not exist" in err, err
    assert "names daemon.state_dir /srv/vfbond: pass --state-dir /srv/vfbond" in err, err
    history.write_text(json.dumps({"time": 1e9, "type": "failover", "severity": 4, "bond": "bond0",
                                   "reason": "vf0 lost carrier"}) + "\n")
    assert main(["events", "--socket", nowhere, "--state-dir", str(tmp_path)]) == exitcodes.OK
    out, err = capsys.readouterr()
    assert "failover" in out and "vf0 lost carrier" in out and f"the history in {history}" in err


# --- 4. simulate-failover checks vfbondd before it says anything ------------------------------------

def test_simulate_without_vfbondd_says_so_before_switching(nowhere: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate-failover", "--socket", nowhere]) == exitcodes.NO_DAEMON
    out, err = capsys.readouterr()
    assert "switching" not in out and "vfbondd is not running" in err


def test_simulate_says_a_forced_switch_was_not_proven(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = {"old_active": "vf0", "new_active": "vf1", "switch_ms": 3.1, "traffic_ms": None, "probes_sent": 0,
              "probes_lost": 0, "target": None, "mac_after": "02:00:00:00:00:02"}
    sock = tmp_path / "control.sock"
    asked = serve_once(sock, {"ok": True, "data": {"failover": report}}, connections=2)  # the check, then the ask
    assert main(["simulate-failover", "--force", "--socket", str(sock)]) == exitcodes.OK
    out = capsys.readouterr().out
    assert out.startswith("switching") and "traffic NOT proven: no gateway or probe target configured" in out
    assert [a["cmd"] for a in asked] == ["status", "simulate-failover"] and asked[1]["args"]["force"] is True


# --- 5. day0 -o into a missing directory ------------------------------------------------------------

def test_day0_into_a_missing_directory_names_it_and_writes_nothing(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "missing" / "user-data"
    assert main(["day0", "render", "-c", str(EXAMPLE), "-o", str(out)]) == exitcodes.USAGE
    err = capsys.readouterr().err
    assert f"directory {out.parent}" in err and "Traceback" not in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


# --- 6. the bonding driver missing is named -----------------------------------------------------------

@pytest.mark.parametrize(("loaded", "says"), [(False, "the bonding driver is not loaded; load it: modprobe bonding"),
                                              (True, "no such bond on this host")])
def test_a_missing_bond_says_whether_the_driver_is_loaded(nowhere: str, tmp_path: Path, loaded: bool, says: str,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sources, "BONDING_DRIVER", tmp_path if loaded else tmp_path / "absent")
    assert main(["status", "--bond", "vfbt-none0", "--socket", nowhere]) == exitcodes.NO_BOND
    assert capsys.readouterr().out == f"vfbt-none0: not present: {says}\n"
    assert main(["health", "--bond", "vfbt-none0", "--socket", nowhere]) == exitcodes.NO_BOND
    assert capsys.readouterr().out.rstrip().endswith(says)
    assert main(["status", "--bond", "vfbt-none0", "--socket", nowhere, "--json"]) == exitcodes.NO_BOND
    assert json.loads(capsys.readouterr().out)["reason"] == says


# --- 7. check-config --json on an invalid file --------------------------------------------------------

def test_check_config_json_on_an_invalid_file_lists_the_problems(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("bond:\n  mode: 802.3ad\n")
    assert main(["check-config", "-c", str(bad), "--json"]) == exitcodes.USAGE
    answer = json.loads(capsys.readouterr().out)
    assert answer["valid"] is False and answer["config"] == str(bad)
    mode = next(p for p in answer["problems"] if p["field"] == "bond.mode")
    assert mode["file"] == str(bad) and mode["line"] == 2 and "LACP" in mode["message"] and mode["fix"]


# --- 8. watch --json: one status per redraw, one object per line ------------------------------------

def test_watch_json_prints_one_status_and_the_new_events_per_line(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    status = {"bond": {"active_slave": "vf0", "slaves": []}, "source": "vfbondd"}
    event = {"time": 1e9, "type": "failover", "severity": 4, "reason": "vf0 lost carrier"}
    reads = iter([status, None])

    def gather(bond: str, socket: str, timeout: float | None = None) -> Any:
        try:
            return next(reads)
        except StopIteration:
            raise KeyboardInterrupt from None  # Ctrl-C after two redraws

    def followed(path: str, count: int, say: Any) -> Iterator[Any]:
        yield event

    monkeypatch.setattr(watch, "gather_status", gather)
    monkeypatch.setattr(watch, "followed", followed)
    assert main(["watch", "--json", "--interval", "5"]) == exitcodes.OK
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["status"] for line in lines] == [status, {"bond": None, "name": "bond0", "present": False,
                                                            "reason": sources.why_absent()}]
    assert [line["events"] for line in lines] == [[], [event]]


# --- 9 and 10. the help -----------------------------------------------------------------------------

def test_events_help_lists_every_event_type(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["events", "--help"])
    text = capsys.readouterr().out
    missing = [t.value for t in EventType if t.value not in text]
    assert not missing, f"events --help leaves out {missing}"


READS_A_BOND = {"--bond", "--socket", "--json", "--timeout"}
TALKS_TO_VFBONDD = {"--socket", "--json", "--timeout"}


@pytest.mark.parametrize(("command", "common"), [
    ("status", READS_A_BOND), ("health", READS_A_BOND), ("watch", READS_A_BOND), ("events", TALKS_TO_VFBONDD),
    ("simulate-failover", TALKS_TO_VFBONDD), ("reload", TALKS_TO_VFBONDD), ("pause", TALKS_TO_VFBONDD),
    ("resume", TALKS_TO_VFBONDD), ("apply", {"--json"}), ("check-config", {"--json"}), ("day0", {"--json"}),
    ("doctor", {"--bond", "--socket", "--json"})])
def test_each_command_lists_only_the_common_options_it_reads(command: str, common: set[str]) -> None:
    sub = next(a for a in parser()._actions if a.dest == "command")
    options = {o for a in sub.choices[command]._actions for o in a.option_strings}  # type: ignore[index]
    assert options & READS_A_BOND == common


def test_commands_that_apply_say_they_wait_longer() -> None:
    sub = next(a for a in parser()._actions if a.dest == "command")
    helps = {name: next(a.help for a in p._actions if a.dest == "timeout")  # type: ignore[union-attr]
             for name, p in sub.choices.items() if name in ("reload", "status")}  # type: ignore[union-attr]
    assert "default: 120" in helps["reload"] and "default: 10)" in helps["status"]

