"""SNMP GET/WALK of the bond's state: a real net-snmp snmpd runs vfbond-snmp-pass (pass_persist) against
a real vfbondd; snmpwalk decodes every object by name through VFBOND-MIB, over v2c and SNMPv3 (snmpd's
own user), and keeps answering while the bond fails over.
"""

from __future__ import annotations

import re
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run, wait_until
from kernel_log import KernelLog
from vfbondd_lab import BIN, LabDaemon, active, running_daemon, vfbondd_failed_over

pytestmark = pytest.mark.lab

MIB_DIR = Path(__file__).resolve().parents[2] / "mib"
V3 = ["-v3", "-l", "authPriv", "-u", "vfops", "-a", "SHA", "-A", "lab-auth-pass", "-x", "AES", "-X", "lab-priv-pass"]
V2C = ["-v2c", "-c", "lab-public"]


def mib_objects() -> set[str]:
    """The readable objects VFBOND-MIB defines: every one must come back by name."""
    text = (MIB_DIR / "VFBOND-MIB.txt").read_text()
    return {name for name, body in re.findall(r"^(\w+) OBJECT-TYPE\n(.*?)::=", text, re.M | re.S)
            if re.search(r"MAX-ACCESS\s+read-only", body)}


@pytest.fixture(scope="module")
def snmpd(bonding: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabDaemon, str]]:
    """vfbondd over veth pairs, and snmpd on a free loopback port serving its state."""
    with running_daemon(tmp_path_factory.mktemp("vfbondd")) as daemon:
        work = tmp_path_factory.mktemp("snmpd")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        conf = work / "snmpd.conf"
        conf.write_text("\n".join([
            "rocommunity lab-public 127.0.0.1",
            "createUser vfops SHA lab-auth-pass AES lab-priv-pass",
            "rouser vfops authpriv",
            f"pass_persist .1.3.6.1.4.1.32473.61.3 {BIN / 'vfbond-snmp-pass'} --socket {daemon.socket}",
        ]) + "\n")
        log = work / "snmpd.log"
        proc = subprocess.Popen(["/usr/sbin/snmpd", "-f", "-C", "-c", str(conf), "-Lf", str(log),
                                 f"--persistentDir={work / 'persist'}", "-p", str(work / "pid"),
                                 f"udp:127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: "NET-SNMP version" in log.read_text(errors="replace") if log.exists() else False,
                       30, 0.2, "snmpd to start")
            yield daemon, f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)


def walk(agent: str, auth: list[str], timeout: float = 30) -> dict[str, str]:
    done = run(["snmpwalk", *auth, "-M", f"+{MIB_DIR / 'ietf'}:{MIB_DIR}", "-m", "+VFBOND-MIB", "-t", "5",
                agent, "VFBOND-MIB::vfbondState"], timeout=timeout)
    found = {}
    for line in done.stdout.splitlines():
        name, _, value = line.partition(" = ")
        found[name.removeprefix("VFBOND-MIB::")] = value
    return found


def text(value: str) -> str:
    return value.removeprefix("STRING: ").strip('"')


def mac(value: str) -> list[int]:
    """fa:16:3e:0:0:2 (MacAddress as snmpwalk shows it) or fa:16:3e:00:00:02, as numbers."""
    return [int(part, 16) for part in text(value).split(":")]


def test_every_object_decodes_by_name_over_v2c_and_snmpv3(snmpd: tuple[LabDaemon, str]) -> None:
    daemon, agent = snmpd
    v0, v1 = daemon.topo.vfs

    def backup_lock() -> str | None:
        return ((daemon.status()["vf"]["slaves"].get(v1) or {}).get("mac_lock") or {}).get("state")

    # vfbondd probes the backup's MAC lock after it starts: let it decide, or the two walks differ
    wait_until(lambda: backup_lock() not in (None, "unknown"), 60, 0.5, f"the MAC-lock verdict on {v1}")
    v2c, v3 = walk(agent, V2C), walk(agent, V3)
    print("\nsnmpwalk -m +VFBOND-MIB vfbondState (SNMPv3 authPriv):\n" + "\n".join(f"{k} = {v}" for k, v in v3.items()))
    assert v2c == v3
    names = {key.split(".")[0] for key in v3}
    assert names == mib_objects(), f"missing: {mib_objects() - names}; unknown: {names - mib_objects()}"
    assert v3["vfbondDaemonRunning.0"] == "INTEGER: true(1)"
    assert text(v3["vfbondBondName.1"]) == "bond0" and text(v3["vfbondBondActiveSlave.1"]) == v0
    assert v3["vfbondBondFailOverMac.1"] == "INTEGER: active(2)"
    assert v3["vfbondBondCondition.1"] == "INTEGER: up(1)"
    assert v3["vfbondSlaveActive.1.1"] == "INTEGER: true(1)" and v3["vfbondSlaveActive.1.2"] == "INTEGER: false(2)"
    assert v3["vfbondSlaveHealth.1.2"] == "INTEGER: up(1)" and v3["vfbondSlaveMiiStatus.1.2"] == "INTEGER: up(1)"
    assert v3["vfbondSlaveMacLock.1.2"] == f"INTEGER: {backup_lock()}(3)" == "INTEGER: unlocked(3)"  # veth: any MAC
    assert mac(v3["vfbondSlaveOwnMac.1.2"]) == mac(daemon.topo.mac(1)) == mac(v3["vfbondSlaveMac.1.2"])


def test_walks_keep_answering_while_the_bond_fails_over(snmpd: tuple[LabDaemon, str]) -> None:
    """Walks in a loop while the bond fails over: all complete, and vfbondd still moves the bond on
    the carrier event, before the kernel's own poll (miimon 5000: the kernel's log orders the two)."""
    daemon, agent = snmpd
    v0, v1 = daemon.topo.vfs
    daemon.write_config(miimon=5000)
    daemon.reload()
    try:
        _walks_during_a_failover(daemon, agent, v0, v1)
    finally:
        daemon.write_config()
        daemon.reload()


def _walks_during_a_failover(daemon: LabDaemon, agent: str, v0: str, v1: str) -> None:
    idle = []
    for _ in range(3):
        t0 = time.monotonic()
        before = walk(agent, V2C)
        idle.append(time.monotonic() - t0)
    failovers = int(before["vfbondBondFailovers.1"].split()[-1])
    took: list[float] = []
    failed: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                rows = walk(agent, V2C)
                assert len(rows) == len(before), f"{len(rows)} of {len(before)} objects"
            except Exception as exc:  # noqa: BLE001 - every failed walk is reported below
                failed.append(str(exc))
            took.append(time.monotonic() - t0)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        time.sleep(1.0)
        t_wall = time.time()
        with KernelLog() as klog:
            daemon.topo.cut_carrier(0)
            failover = vfbondd_failed_over(daemon, t_wall, klog, v0, v1)
        time.sleep(1.0)
    finally:
        stop.set()
        poller.join(60)
    print(f"\nwalk of {len(before)} objects: idle median {statistics.median(idle) * 1000:.0f} ms; {len(took)} walks "
          f"during the failover: median {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms; "
          f"{failover['reason']}")
    assert not failed, failed
    after = wait_until(lambda: (w := walk(agent, V2C))["vfbondBondFailovers.1"].endswith(str(failovers + 1)) and w,
                       10, 0.5, "the failover counted in vfbondBondFailovers")
    assert text(after["vfbondBondActiveSlave.1"]) == v1
    assert after["vfbondBondLastMoveCause.1"] == "INTEGER: carrierLoss(2)"
    assert after["vfbondSlaveActive.1.2"] == "INTEGER: true(1)"
    daemon.topo.restore_carrier(0)
    wait_until(lambda: active() == v0, 20, 0.2, f"{v0} active again")


def test_without_vfbondd_the_agent_says_so(snmpd: tuple[LabDaemon, str]) -> None:
    daemon, agent = snmpd
    daemon.stop()
    try:
        time.sleep(1.5)  # past the agent's cached status
        assert walk(agent, V2C) == {"vfbondDaemonRunning.0": "INTEGER: false(2)"}
    finally:
        daemon.start()
