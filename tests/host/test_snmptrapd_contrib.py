"""contrib/snmp/snmptrapd.conf in the real snmptrapd: each of vfbond's traps becomes one syslog line with
the severity of its event. logger(1) is pointed at a datagram socket of the test's own instead of
/dev/log; everything else is the shipped file."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.test_sinks_snmp import Trapd, send
from vfbond.config import SnmpTarget
from vfbond.shared.events import SEVERITY, Event, EventType
from vfbond.sinks.snmp import notification_varbinds

pytestmark = pytest.mark.host

CONF = Path(__file__).resolve().parents[2] / "contrib" / "snmp" / "snmptrapd.conf"
FACILITY_DAEMON = 3
EVENTS = [Event(kind, "bond0", slave="vf0", old_active="vf0", new_active="vf1", reason=f"why {kind.value}",
                details={"ifindex": 7}) for kind in EventType]


def handlers() -> dict[str, str]:
    """traphandle OID -> the priority its logger line gives."""
    found = re.findall(r"^traphandle (\S+) logger -t vfbond-trap -p daemon\.(\w+)$", CONF.read_text(), flags=re.M)
    return {oid.lstrip("."): priority for oid, priority in found}


def test_every_notification_has_a_handler_with_its_events_severity() -> None:
    expected = {notification_varbinds(event)[0]: event.severity.name.lower() for event in EVENTS}
    assert handlers() == expected


class Syslog:
    """A /dev/log stand-in: the datagrams logger sends, as (PRI, text)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)

    async def lines(self, count: int, timeout: float = 15.0) -> list[tuple[int, str]]:
        got: list[tuple[int, str]] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            try:
                data = self.sock.recv(65536).decode()
            except BlockingIOError:
                assert time.monotonic() < deadline, f"{len(got)} of {count} lines arrived: {got}"
                await asyncio.sleep(0.05)
                continue
            pri, text = re.fullmatch(r"<(\d+)>(.*)", data.rstrip("\n"), flags=re.S).groups()  # type: ignore[union-attr]
            got.append((int(pri), text))
        return got


@pytest.fixture
def syslog(tmp_path: Path) -> Iterator[Syslog]:
    receiver = Syslog(tmp_path / "log.sock")
    yield receiver
    receiver.sock.close()


@pytest.fixture
def contrib_trapd(tmp_path: Path, syslog: Syslog) -> Iterator[Trapd]:
    conf = CONF.read_text().replace(" logger ", f" logger -u {syslog.path} ")
    receiver = Trapd(tmp_path, conf_text=conf)
    yield receiver
    receiver.stop()


async def test_each_trap_becomes_one_syslog_line_with_its_events_severity(
        contrib_trapd: Trapd, syslog: Syslog) -> None:
    await send(SnmpTarget("127.0.0.1", contrib_trapd.port), *EVENTS)
    lines = await syslog.lines(len(EVENTS))
    expected = [(FACILITY_DAEMON * 8 + int(SEVERITY[event.type]), event.type) for event in EVENTS]
    assert [pri for pri, _ in lines] == [pri for pri, _ in expected]
    failover = lines[0][1]
    assert re.search(r"vfbond-trap: UDP: \[127\.0\.0\.1\]:\d+->\[127\.0\.0\.1\]:\d+, sysUpTime\.0 [^,]+, "
                     r"snmpTrapOID\.0 vfbondFailover, vfbondEventBond\.0 bond0, vfbondEventSlave\.0 vf0, "
                     r"vfbondEventOldActive\.0 vf0, vfbondEventNewActive\.0 vf1, vfbondEventReason\.0 why failover, "
                     r"vfbondEventSeverity\.0 warning$", failover), failover
    by_type = {event.type: text for event, (_, text) in zip(EVENTS, lines, strict=True)}
    assert "snmpTrapOID.0 vfbondBondIsolated," in by_type[EventType.BOND_ISOLATED]
    assert "snmpTrapOID.0 linkDown, ifIndex.7 7, ifAdminStatus.7 up, ifOperStatus.7 down, ifName.7 vf0" \
        in by_type[EventType.SLAVE_DOWN]
    assert "|" not in contrib_trapd.text()  # `execute` only: snmptrapd's own log does not repeat them
