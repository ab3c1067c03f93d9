"""Issue #4 end to end: a path failure with carrier up on a real bond makes vfbondd fail over, and
the events reach a real rsyslogd (RFC 5424 over TCP) and a real snmptrapd (v2c, decoded with the
shipped MIB), both on the guest's loopback, and the journal line (stdout without a journal socket).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from conftest import wait_until
from vfbondd_lab import PROBES, active, running_daemon

from tests.host.test_sinks_snmp import Trapd
from tests.host.test_sinks_syslog import RsyslogFactory, free_port

pytestmark = pytest.mark.lab


async def test_path_failure_reaches_syslog_snmp_and_the_journal_line(bonding: Path, tmp_path: Path) -> None:
    for sub in ("rsyslog", "trapd", "daemon"):
        (tmp_path / sub).mkdir()
    factory = RsyslogFactory(tmp_path / "rsyslog")
    tcp = free_port(socket.SOCK_STREAM)
    rsyslog = factory.start(tcp=tcp)
    trapd = Trapd(tmp_path / "trapd")
    alerts = (f"alerts:\n  syslog: [{{host: 127.0.0.1, port: {tcp}, protocol: tcp}}]\n"
              f"  snmp: [{{host: 127.0.0.1, port: {trapd.port}, version: 2c, community: public}}]\n")
    try:
        with running_daemon(tmp_path / "daemon") as d:
            d.write_config(extra=PROBES + alerts)
            d.bondctl("reload")
            wait_until(lambda: d.status()["verdicts"] == {"vf0": "up", "vf1": "up"}, 60, 0.2,
                       lambda: f"both slaves' probes answered\n{d.log_tail()}")
            d.topo.blackhole(0)
            t0 = time.monotonic()
            wait_until(lambda: active() == "vf1", 15, 0.02, lambda: f"failover off the dead path\n{d.log_tail()}")
            print(f"\npath failure -> failover in {(time.monotonic() - t0) * 1000:.0f} ms")
            assert d.topo.carrier(0)

            def syslog_has(kind: str) -> list[list[str]]:
                return [f for f in rsyslog.lines("imtcp") if f[4] == kind and "path failure" in f[6]]
            failover = wait_until(lambda: syslog_has("failover"), 30, 0.2, "the failover at rsyslogd")
            assert 'old="vf0" new="vf1"' in failover[0][5] and "path failure on vf0" in failover[0][6]
            assert wait_until(lambda: syslog_has("slave_down"), 30, 0.2, "slave_down at rsyslogd")

            traps = wait_until(lambda: [line for line in trapd.text().splitlines()
                                        if "VFBOND-MIB::vfbondFailover" in line], 30, 0.2,
                               f"vfbondFailover at snmptrapd\n{trapd.text()}")
            assert "path failure on vf0" in traps[0]
            assert "IF-MIB::linkDown" in trapd.text()

            journal = [line for line in d.log.read_text().splitlines() if '"EVENT_TYPE": "failover"' in line]
            assert any("path failure on vf0" in line and '"NEW_ACTIVE": "vf1"' in line for line in journal)
            stats = d.status()["alerts"]
            assert all(s["dropped"] == 0 for s in stats.values()), stats
    finally:
        trapd.stop()
        rsyslog.stop()
