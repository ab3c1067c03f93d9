"""The SNMP sink against a real snmptrapd on loopback that decodes with the shipped MIBs; the MIB through smilint."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vfbond.config import SnmpTarget
from vfbond.shared.events import Event, EventType
from vfbond.sinks import Dispatcher, SinkUnavailable
from vfbond.sinks.snmp import SnmpSink

pytestmark = pytest.mark.host

MIB_DIR = Path(__file__).resolve().parents[2] / "mib"
ENGINE_ID = "0x80001f8880766662306e6474657374"  # our local engine for v3 traps; snmptrapd must know it
USER, AUTH_KEY, PRIV_KEY = "vfbond", "auth-secret-1", "priv-secret-1"
# The notification name each event decodes to through VFBOND-MIB / IF-MIB.
NAMES = {
    EventType.FAILOVER: "VFBOND-MIB::vfbondFailover",
    EventType.FAILBACK: "VFBOND-MIB::vfbondFailback",
    EventType.BOND_ISOLATED: "VFBOND-MIB::vfbondBondIsolated",
    EventType.BOND_DEGRADED: "VFBOND-MIB::vfbondBondDegraded",
    EventType.BOND_RESTORED: "VFBOND-MIB::vfbondBondRestored",
    EventType.SLAVE_MISSING: "VFBOND-MIB::vfbondSlaveMissing",
    EventType.SLAVE_RETURNED: "VFBOND-MIB::vfbondSlaveReturned",
    EventType.MAC_CHANGED: "VFBOND-MIB::vfbondMacChanged",
    EventType.FLAP_SUMMARY: "VFBOND-MIB::vfbondFlapSummary",
    EventType.WARNING: "VFBOND-MIB::vfbondWarning",
    EventType.DAEMON: "VFBOND-MIB::vfbondDaemonEvent",
    EventType.KERNEL_MESSAGE: "VFBOND-MIB::vfbondKernelMessage",
    EventType.PF_RESET: "VFBOND-MIB::vfbondPfReset",
    EventType.RECOVERED: "VFBOND-MIB::vfbondRecovered",
    EventType.RECOVERY_ATTEMPT: "VFBOND-MIB::vfbondRecoveryAttempt",
    EventType.FAILOVER_VERIFIED: "VFBOND-MIB::vfbondFailoverVerified",
    EventType.FAILOVER_UNVERIFIED: "VFBOND-MIB::vfbondFailoverUnverified",
    EventType.PEERS_NOT_NOTIFIED: "VFBOND-MIB::vfbondPeersNotNotified",
    EventType.CONVERGED: "VFBOND-MIB::vfbondConverged",
    EventType.PAUSED: "VFBOND-MIB::vfbondPaused",
    EventType.RESUMED: "VFBOND-MIB::vfbondResumed",
    EventType.ON_STANDBY: "VFBOND-MIB::vfbondOnStandby",
    EventType.OFF_STANDBY: "VFBOND-MIB::vfbondOffStandby",
    EventType.MIGRATION_DETACHED: "VFBOND-MIB::vfbondMigrationDetached",
    EventType.MIGRATION_ATTACHED: "VFBOND-MIB::vfbondMigrationAttached",
    EventType.VFS_NOT_RETURNED: "VFBOND-MIB::vfbondVfsNotReturned",
    EventType.SLAVE_DOWN: "IF-MIB::linkDown",
    EventType.SLAVE_UP: "IF-MIB::linkUp",
}
FAILOVER = Event(EventType.FAILOVER, "bond0", slave="vf0", old_active="vf0", new_active="vf1", reason="carrier lost")
FAILOVER_VARBINDS = [
    "SNMPv2-MIB::snmpTrapOID.0 = OID: VFBOND-MIB::vfbondFailover",
    "VFBOND-MIB::vfbondEventBond.0 = STRING: bond0",
    "VFBOND-MIB::vfbondEventSlave.0 = STRING: vf0",
    "VFBOND-MIB::vfbondEventOldActive.0 = STRING: vf0",
    "VFBOND-MIB::vfbondEventNewActive.0 = STRING: vf1",
    "VFBOND-MIB::vfbondEventReason.0 = STRING: carrier lost",
    "VFBOND-MIB::vfbondEventSeverity.0 = INTEGER: warning(4)",
]


def need(tool: str, package: str) -> str:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"{tool} is not installed: apt-get install {package}")
    return path


class Trapd:
    """snmptrapd on a free loopback port, logging one line per notification: `<pdu info>|<varbinds>`."""

    def __init__(self, tmp_path: Path, conf_text: str | None = None) -> None:
        """`conf_text`: another snmptrapd.conf, which then also loads the MIBs it names itself."""
        self.port = self._free_port()
        self.log = tmp_path / "traps.log"
        conf = tmp_path / "snmptrapd.conf"
        conf.write_text(conf_text or "\n".join([
            "disableAuthorization yes",  # v2c: log whatever community
            f"createUser -e {ENGINE_ID} {USER} SHA {AUTH_KEY} AES {PRIV_KEY}",  # v3 traps from our engine
            f"createUser {USER} SHA {AUTH_KEY} AES {PRIV_KEY}",  # v3 informs (snmptrapd's engine)
        ]) + "\n")
        mibs = [] if conf_text else ["-m", "VFBOND-MIB:IF-MIB:SNMPv2-MIB"]
        self.proc = subprocess.Popen(
            [need("snmptrapd", "snmptrapd"), "-f", "-n", "-C", "-c", str(conf), "-Lf", str(self.log),
             "-F", "%P|%v\n", "-M", f"{MIB_DIR / 'ietf'}:{MIB_DIR}", *mibs,
             f"--persistentDir={tmp_path / 'persist'}", f"udp:127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while "NET-SNMP version" not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"snmptrapd did not start: {self.text()}")
            time.sleep(0.05)

    @staticmethod
    def _free_port() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def notifications(self, count: int, timeout: float = 5.0) -> list[tuple[str, list[str]]]:
        deadline = time.monotonic() + timeout
        while len(lines := [line for line in self.text().splitlines() if "|" in line]) < count:
            assert time.monotonic() < deadline, f"{len(lines)} of {count} notifications arrived:\n{self.text()}"
            await asyncio.sleep(0.05)
        return [(info, varbinds.split("\t")) for info, _, varbinds in (line.partition("|") for line in lines)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(5)


@pytest.fixture
def trapd(tmp_path: Path) -> Iterator[Trapd]:
    receiver = Trapd(tmp_path)
    yield receiver
    receiver.stop()


def v3(trapd: Trapd, **kw: object) -> SnmpTarget:
    return SnmpTarget("127.0.0.1", trapd.port, version="3", user=USER, auth_protocol="sha", auth_key=AUTH_KEY,
                      priv_protocol="aes", priv_key=PRIV_KEY, **kw)


async def send(target: SnmpTarget, *events: Event) -> None:
    sink = SnmpSink(target)
    try:
        for ev in events:
            await sink.send(ev)
    finally:
        await sink.close()


async def test_v2c_link_traps_are_if_mib_link_down_and_up(trapd: Trapd) -> None:
    await send(SnmpTarget("127.0.0.1", trapd.port),
               Event(EventType.SLAVE_DOWN, "bond0", slave="vf0", details={"ifindex": 7}),
               Event(EventType.SLAVE_UP, "bond0", slave="vf0", details={"ifindex": 7}))
    (info_down, down), (_, up) = await trapd.notifications(2)
    assert info_down == "TRAP2, SNMP v2c, community public"
    assert down[1:] == ["SNMPv2-MIB::snmpTrapOID.0 = OID: IF-MIB::linkDown", "IF-MIB::ifIndex.7 = INTEGER: 7",
                        "IF-MIB::ifAdminStatus.7 = INTEGER: up(1)", "IF-MIB::ifOperStatus.7 = INTEGER: down(2)",
                        "IF-MIB::ifName.7 = STRING: vf0"]
    assert up[1] == "SNMPv2-MIB::snmpTrapOID.0 = OID: IF-MIB::linkUp"
    assert "IF-MIB::ifOperStatus.7 = INTEGER: up(1)" in up


async def test_every_event_type_decodes_to_its_notification_in_the_shipped_mib(trapd: Trapd) -> None:
    events = [Event(kind, "bond0", slave="vf0", reason=kind.value,
                    details={"ifindex": 7, "suppressed": 12, "reply_ms": 41.6}) for kind in EventType]
    await send(SnmpTarget("127.0.0.1", trapd.port, community="vfbond-ro"), *events)
    got = await trapd.notifications(len(events))
    assert [varbinds[1] for _, varbinds in got] == [f"SNMPv2-MIB::snmpTrapOID.0 = OID: {NAMES[e.type]}"
                                                    for e in events]
    assert all(info == "TRAP2, SNMP v2c, community vfbond-ro" for info, _ in got)
    by_type = {e.type: varbinds for e, (_, varbinds) in zip(events, got, strict=True)}
    assert "VFBOND-MIB::vfbondEventSuppressed.0 = Gauge32: 12 events" in by_type[EventType.FLAP_SUMMARY]
    assert "VFBOND-MIB::vfbondEventSeverity.0 = INTEGER: critical(2)" in by_type[EventType.BOND_ISOLATED]
    assert "VFBOND-MIB::vfbondEventReplyTime.0 = Gauge32: 42 milliseconds" in by_type[EventType.FAILOVER_VERIFIED]


async def test_v2c_inform_is_acknowledged(trapd: Trapd) -> None:
    alerts = Dispatcher([SnmpSink(SnmpTarget("127.0.0.1", trapd.port, inform=True))], queue_size=10)
    alerts.start()
    alerts.publish(FAILOVER)
    [(info, varbinds)] = await trapd.notifications(1)
    assert info == "INFORM, SNMP v2c, community public"
    assert varbinds[1:] == FAILOVER_VARBINDS
    await alerts.close()
    [stats] = alerts.stats().values()
    assert (stats["delivered"], stats["retries"]) == (1, 0)


async def test_v3_auth_priv_trap_and_inform(trapd: Trapd) -> None:
    await send(v3(trapd, engine_id=ENGINE_ID), FAILOVER)
    await send(v3(trapd, inform=True), FAILOVER)
    (trap_info, trap), (inform_info, inform) = await trapd.notifications(2)
    assert trap_info.startswith(f"TRAP2, SNMP v3, user {USER}")
    assert inform_info.startswith(f"INFORM, SNMP v3, user {USER}")
    assert trap[1:] == inform[1:] == FAILOVER_VARBINDS


async def test_an_inform_the_receiver_rejects_raises_so_the_queue_retries(trapd: Trapd) -> None:
    wrong = SnmpTarget("127.0.0.1", trapd.port, version="3", user=USER, auth_protocol="sha",
                       auth_key="not-the-key", priv_protocol="aes", priv_key=PRIV_KEY, inform=True)
    with pytest.raises(SinkUnavailable, match="[Dd]igest"):
        await send(wrong, FAILOVER)
    assert "|" not in trapd.text()  # nothing was accepted


async def test_an_inform_without_receiver_raises_after_its_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))  # bound but never read: nothing answers
        sink = SnmpSink(SnmpTarget("127.0.0.1", s.getsockname()[1], inform=True), timeout=0.2, retries=0)
        with pytest.raises(SinkUnavailable, match="[Tt]imeout"):
            await sink.send(FAILOVER)
        await sink.close()


def test_the_mib_passes_smilint_level_3(tmp_path: Path) -> None:
    smilint = need("smilint", "smitools")

    def lint(mib: Path) -> str:
        done = subprocess.run([smilint, "-s", "-l", "3", str(mib)], capture_output=True, text=True,
                              env={**os.environ, "SMIPATH": str(MIB_DIR / "ietf")})
        assert done.returncode == 0, done.stderr
        return (done.stdout + done.stderr).strip()  # smilint exits 0 on errors: its output is the verdict

    assert lint(MIB_DIR / "VFBOND-MIB.txt") == ""
    # The check must be able to fail: a notification naming an object that does not exist is an error.
    broken = tmp_path / "VFBOND-MIB.txt"
    broken.write_text((MIB_DIR / "VFBOND-MIB.txt").read_text().replace("vfbondEventSeverity }", "vfbondTypo }", 1))
    assert "vfbondTypo" in lint(broken)
