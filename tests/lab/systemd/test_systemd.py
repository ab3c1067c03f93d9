"""The shipped unit and day0 user-data under a real systemd and a real cloud-init (systemd boot only).

Run by lab/run-systemd.sh, which boots the guest with systemd as PID 1 and runs this module from a
transient unit. The tests run in order and share one state, as a VM's first boot would:

1. cloud-init, against a NoCloud seed holding cloud-init/user-data.yaml as shipped, writes the
   config and the unit, installs vfbond offline from the wheelhouse into /opt/vfbond and starts
   vfbondd.service, which creates bond0 over the two lab VFs (NetworkManager is masked for this
   boot: the unit must start without it, and the auto backend falls back to netlink).
2. The unit is active/running with the READY status text, the hardening is in force on the
   process (capability bounding set, no_new_privs, seccomp), and systemd-analyze verify passes.
3. A carrier cut on the active VF fails over, and the journal has vfbondd's failover event.
4. bondctl doctor passes on the real bond, and fails when an address lands on a slave.
5. reload is `bondctl reload`: a refused config fails `systemctl reload` and keeps vfbondd running, a
   good one reloads; the watchdog was fed for longer than WatchdogSec; stop is clean.
6. A daemon.socket in a directory the unit makes read-only: `systemctl start` fails once with exit 10,
   the unit stays failed (no restart loop), the bond is untouched, and the journal line names the
   drop-in that `bondctl check-config` names.
7. README's textfile example (metrics.textfile_dir /var/lib/node_exporter/textfile_collector) works
   under the unit: the .prom file appears there and follows a failover.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Topology, run, wait_until
from day0_lab import (
    CONFIG,
    ROOT,
    UNIT,
    USER_DATA,
    active_slave,
    first_boot,
    journal_events,
    show,
    show_unit,
    unit_report,
)
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [
    pytest.mark.lab,
    pytest.mark.timeout(1200),  # the day0 fixture is a whole first boot: pip installs under emulation
    pytest.mark.skipif(os.environ.get("VFBOND_LAB_SYSTEMD") != "1" or not Path("/run/systemd/system").is_dir(),
                       reason="needs the systemd lab boot (lab/run-systemd.sh): systemd as PID 1"),
]


@pytest.fixture(scope="module")
def topo(bonding: Path) -> Iterator[Topology]:
    t = Topology().setup()
    try:
        yield t
    finally:
        run(["systemctl", "stop", UNIT], check=False, timeout=180)
        t.teardown()


@pytest.fixture(scope="module")
def day0(topo: Topology) -> Topology:
    """First boot of a VM whose image has the wheelhouse baked in, given the shipped user-data."""
    wheelhouse = Path(os.environ["VFBOND_LAB_WHEELHOUSE"])
    assert list(wheelhouse.glob("vfbond-*.whl")), f"no vfbond wheel in {wheelhouse} (lab/run-systemd.sh builds it)"
    shutil.copytree(wheelhouse, "/opt/vfbond/wheelhouse")
    assert show_unit("NetworkManager.service", "LoadState") == "masked", "lab/run-systemd.sh masks it at boot"
    first_boot(USER_DATA.read_text(), "vfbond-lab-0001")
    return topo


def test_cloud_init_day0_brings_the_bond_up_under_vfbondd(day0: Topology) -> None:
    result = json.loads(Path("/run/cloud-init/result.json").read_text())["v1"]
    assert result["datasource"].startswith("DataSourceNoCloud") and result["errors"] == [], result
    assert run(["systemctl", "is-enabled", UNIT]).stdout.strip() == "enabled"
    props = show("ActiveState", "SubState", "FragmentPath", "ExecMainStartTimestampMonotonic")
    assert (props["ActiveState"], props["SubState"]) == ("active", "running"), unit_report()
    assert props["FragmentPath"] == "/etc/systemd/system/vfbondd.service"
    status = json.loads(run(["/usr/local/bin/bondctl", "status", "--json"]).stdout)
    assert status["source"] == "vfbondd", status
    # NetworkManager is masked and Debian has no ifcfg dir: the unit starts anyway, auto picks netlink
    assert status["daemon"]["backend"].startswith("auto: NetworkManager is not on the system bus"), status["daemon"]
    bond = status["bond"]
    assert sorted(s["link"]["name"] for s in bond["slaves"]) == ["vf0", "vf1"]
    assert bond["active_slave"] == "vf0" and bond["fail_over_mac"] == "active"  # primary: sriov0
    assert "192.0.2.10/24" in bond["addresses"]
    assert day0.ping_gateway(), "gateway unreachable through the bond cloud-init set up"
    # The hardened unit still lets vfbondd follow the VF drivers' kernel messages (/dev/kmsg, CAP_SYSLOG).
    assert status["vf"]["kmsg"]["error"] is None, status["vf"]


def test_unit_is_ready_hardened_and_verified(day0: Topology) -> None:
    props = show("Type", "NotifyAccess", "StatusText", "WatchdogUSec", "NRestarts", "MainPID")
    assert props["Type"] == "notify" and props["NotifyAccess"] == "main"
    assert props["StatusText"] == "supervising bond0", unit_report()  # sent with READY=1
    assert props["WatchdogUSec"] == "30s" and props["NRestarts"] == "0"
    proc = dict(line.split(":\t", 1) for line in
                Path(f"/proc/{props['MainPID']}/status").read_text().splitlines() if ":\t" in line)
    caps = {12: "CAP_NET_ADMIN", 13: "CAP_NET_RAW", 0: "CAP_CHOWN", 34: "CAP_SYSLOG"}
    assert int(proc["CapBnd"], 16) == sum(1 << bit for bit in caps), f"CapBnd {proc['CapBnd']}, want {caps}"
    assert proc["NoNewPrivs"].strip() == "1" and proc["Seccomp"].strip() == "2"
    assert b"/opt/vfbond/bin/vfbondd" in Path(f"/proc/{props['MainPID']}/cmdline").read_bytes().split(b"\0")
    verify = run(["systemd-analyze", "verify", "/etc/systemd/system/vfbondd.service"], check=False)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr


def test_carrier_cut_fails_over_and_the_journal_has_it(day0: Topology) -> None:
    assert active_slave() == "vf0"
    t0 = time.time()
    day0.cut_carrier(0)
    wait_until(lambda: active_slave() == "vf1", 10, 0.05, "vf1 to become active")

    def failover() -> dict[str, Any] | None:
        return next((e for e in journal_events(t0) if e["EVENT_TYPE"] == "failover"), None)

    event = wait_until(failover, 30, 0.5, f"a failover event in journalctl -u {UNIT}")
    assert (event["OLD_ACTIVE"], event["NEW_ACTIVE"]) == ("vf0", "vf1"), event
    assert "carrier loss on vf0" in event["REASON"], event
    day0.restore_carrier(0)
    wait_until(lambda: day0.carrier(0), 10, 0.1, "vf0 carrier back")
    assert day0.ping_gateway(), "gateway unreachable after the failover"


def doctor() -> tuple[int, dict[str, dict[str, Any]]]:
    done = run(["/usr/local/bin/bondctl", "doctor", "--json", "-c", str(CONFIG)], check=False)
    report = json.loads(done.stdout)
    return done.returncode, {f["check"]: f for f in report["findings"]}


def test_doctor_on_the_real_bond(day0: Topology) -> None:
    code, found = doctor()
    assert code in (0, 6) and not [f for f in found.values() if f["status"] == "FAIL"], found
    for check in ("slaves", "distinct-macs", "fail-over-mac", "mtu", "monitoring", "addresses", "daemon"):
        assert found[check]["status"] == "PASS", found[check]
    run(["ip", "addr", "add", "198.51.100.7/24", "dev", "vf1"])
    try:
        code, found = doctor()
    finally:
        run(["ip", "addr", "del", "198.51.100.7/24", "dev", "vf1"])
    assert code == 1 and found["addresses"]["status"] == "FAIL", found["addresses"]
    assert "vf1" in found["addresses"]["message"] and found["addresses"]["fix"]


def test_reload_watchdog_and_clean_stop(day0: Topology) -> None:
    t0 = time.time()
    good = Path(CONFIG).read_bytes()
    Path(CONFIG).write_text("bond:\n  mode: 802.3ad\n")
    try:  # the unit's ExecReload is `bondctl reload`: a refusal is systemctl's exit status too
        refused = run(["systemctl", "reload", UNIT], check=False, timeout=180)
    finally:
        Path(CONFIG).write_bytes(good)
    assert refused.returncode != 0, "systemctl reload succeeded although vfbondd refused the config"
    assert show("ActiveState")["ActiveState"] == "active", unit_report()
    run(["systemctl", "reload", UNIT], timeout=180)
    wait_until(lambda: any("config reloaded" in e.get("REASON", "") for e in journal_events(t0)), 30, 0.5,
               "the reload event in the journal")
    # The watchdog (30 s) must have been fed: still the first process, up for longer than that.
    started = float(show("ExecMainStartTimestampMonotonic")["ExecMainStartTimestampMonotonic"]) / 1e6
    up = time.clock_gettime(time.CLOCK_MONOTONIC) - started
    if up < 35:
        time.sleep(35 - up)
    props = show("ActiveState", "NRestarts", "MainPID")
    assert props["ActiveState"] == "active" and props["NRestarts"] == "0", unit_report()
    run(["systemctl", "stop", UNIT], timeout=180)
    props = show("ActiveState", "Result", "ExecMainStatus")
    assert (props["ActiveState"], props["Result"], props["ExecMainStatus"]) == ("inactive", "success", "0"), \
        unit_report()
    assert any(e.get("REASON") == "vfbondd stopped" for e in journal_events(t0))


# Writable for root in the guest (the /var overlay), read-only inside the unit (ProtectSystem=strict).
READ_ONLY_TO_THE_UNIT = Path("/var/lib/vfbond-lab-ro")
MIIMON = Path("/sys/class/net/bond0/bonding/miimon")


def journal_lines(since: float) -> list[str]:
    """The unit's journal messages (vfbondd's stderr among them) since `since` (epoch seconds)."""
    entries = [json.loads(line) for line in
               run(["journalctl", "-b", "-u", UNIT, "-o", "json", "--no-pager"]).stdout.splitlines()]
    return [e["MESSAGE"] for e in entries
            if int(e["__REALTIME_TIMESTAMP"]) / 1e6 >= since and isinstance(e.get("MESSAGE"), str)]


def test_a_socket_the_unit_cannot_write_fails_once_and_names_the_drop_in(day0: Topology) -> None:
    run(["systemctl", "stop", UNIT], timeout=180)  # as the clean stop above left it
    run(["systemctl", "reset-failed", UNIT], check=False)
    READ_ONLY_TO_THE_UNIT.mkdir(exist_ok=True)
    good = CONFIG.read_text()
    assert "\ndaemon:" not in good, "the day0 config has a daemon section: a second one would be a duplicate key"
    run(["ip", "link", "set", "bond0", "type", "bond", "miimon", "250"])  # the config says 100: an apply puts it back
    t0 = time.time()
    try:
        CONFIG.write_text(good.rstrip("\n") + f"\ndaemon:\n  socket: {READ_ONLY_TO_THE_UNIT}/control.sock\n")
        warned = run(["/usr/local/bin/bondctl", "check-config", "-c", str(CONFIG)]).stdout
        started = run(["systemctl", "start", UNIT], check=False, timeout=180)
        time.sleep(6)  # RestartSec=2s three times: a restart loop would have begun
        props = show("ActiveState", "SubState", "Result", "ExecMainStatus", "NRestarts")
    finally:
        CONFIG.write_text(good)
    assert started.returncode != 0, f"systemctl start succeeded\n{unit_report()}"
    assert props == {"ActiveState": "failed", "SubState": "failed", "Result": "exit-code", "ExecMainStatus": "10",
                     "NRestarts": "0"}, unit_report()
    fix = f"Fix: systemctl edit vfbondd, and under [Service] add ReadWritePaths={READ_ONLY_TO_THE_UNIT}"
    assert f"warning: daemon.socket: {READ_ONLY_TO_THE_UNIT} is read-only" in warned and fix in warned, warned
    line = wait_until(lambda: next((ln for ln in journal_lines(t0) if "daemon.socket: cannot make" in ln), None), 30,
                      0.5, f"vfbondd's refusal in journalctl -u {UNIT}")
    assert line == (f"vfbondd: daemon.socket: cannot make the control socket {READ_ONLY_TO_THE_UNIT}/control.sock "
                    f"in {READ_ONLY_TO_THE_UNIT} (Read-only file system); a restart cannot fix that, and nothing was "
                    f"touched. {fix}"), line
    assert [ln for ln in journal_lines(t0) if ln.startswith("vfbondd: ")] == [line], "one line, one start"
    assert MIIMON.read_text().strip() == "250", "vfbondd changed the bond before it refused"
    assert list(READ_ONLY_TO_THE_UNIT.iterdir()) == []
    # The same unit with the config's own socket starts and puts miimon back: 250 was a witness that can fail.
    run(["systemctl", "reset-failed", UNIT])
    run(["systemctl", "start", UNIT], timeout=180)
    wait_until(lambda: MIIMON.read_text().strip() == "100", 60, 0.5, f"miimon back to 100\n{unit_report()}")


def readme_textfile_dir() -> Path:
    """The textfile_dir of README's "Prometheus" section."""
    section = (ROOT / "README.md").read_text().split("\n## Prometheus\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"`textfile_dir: (/\S+)`", section)
    assert found, "README's Prometheus section names no textfile_dir"
    return Path(found.group(1))


def series(prom: Path, name: str, **labels: str) -> float | None:
    """The value of the one series `name` of bond0 in the textfile whose labels include `labels`."""
    want = {"bond": "bond0", **labels}.items()
    found = [s.value for family in text_string_to_metric_families(prom.read_text()) for s in family.samples
             if s.name == name and want <= s.labels.items()]
    return found[0] if len(found) == 1 else None


def shows_move(prom: Path, old: str, new: str, since: float) -> bool:
    """The textfile has `new` active, `old` not, and a move of the active slave since `since`: a failover,
    or a failback when `old` is the backup (primary_reselect: failure kept vf1 after the carrier cut above)."""
    return (series(prom, "vfbond_active", slave=new) == 1 and series(prom, "vfbond_active", slave=old) == 0
            and (series(prom, "vfbond_last_failover_timestamp_seconds") or 0) >= since - 1)


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """On a failure, what vfbondd says of its faults (a textfile write it could not make) and the unit."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            status = run(["/usr/local/bin/bondctl", "status", "--json"], check=False).stdout
            print(f"faults: {json.loads(status).get('faults')}\n{unit_report()}")
        raise


def test_readmes_textfile_example_works_under_the_unit(day0: Topology) -> None:
    textfiles = readme_textfile_dir()
    assert str(textfiles) == "/var/lib/node_exporter/textfile_collector"
    # node_exporter's install makes it; the unit's ReadWritePaths=- needs it to exist when vfbondd starts
    textfiles.mkdir(parents=True, exist_ok=True)
    prom = textfiles / "vfbond_bond0.prom"
    prom.unlink(missing_ok=True)
    good = CONFIG.read_text()
    assert "textfile_dir: null" in good, "the day0 config's metrics section changed"
    try:
        CONFIG.write_text(good.replace("textfile_dir: null", f"textfile_dir: {textfiles}", 1))
        run(["systemctl", "reset-failed", UNIT], check=False)
        run(["systemctl", "restart", UNIT], timeout=180)
        with reported():
            wait_until(lambda: series(prom, "vfbond_info") == 1 and series(
                prom, "vfbond_active", slave=active_slave()) == 1, 60, 0.5, f"{prom} with vfbond_ metrics")
        print(prom.read_text())
        old = active_slave()
        i = day0.vfs.index(old)
        new = day0.vf(1 - i)
        written = prom.stat().st_mtime
        t_cut = time.time()
        day0.cut_carrier(i)
        try:
            wait_until(lambda: active_slave() == new, 10, 0.05, f"{new} to become active")
            with reported():
                wait_until(lambda: shows_move(prom, old, new, t_cut), 30, 0.2, f"{prom} to show {old} -> {new}")
            assert prom.stat().st_mtime > written
        finally:
            day0.restore_carrier(i)
            wait_until(lambda: day0.carrier(i), 10, 0.1, f"{old} carrier back")
    finally:
        CONFIG.write_text(good)
        run(["systemctl", "stop", UNIT], check=False, timeout=180)
