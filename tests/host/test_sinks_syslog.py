"""The syslog sink against a real rsyslogd on loopback: UDP, TCP, TLS, and a receiver that is down."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vfbond.config import SyslogTarget
from vfbond.shared.events import Event, EventType
from vfbond.sinks import Dispatcher
from vfbond.sinks.syslog import BOM, SyslogSink

pytestmark = pytest.mark.host

# One line per message: which input took it, then the parts rsyslog parsed out of it.
TEMPLATE = "%inputname%|%pri%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\\n"
PROBE = "readiness-probe"  # app-name of the datagrams that check rsyslog is up
FAST = {"retry_initial": 0.05, "retry_max": 0.4}


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Rsyslog:
    proc: subprocess.Popen[bytes]
    out: Path

    def lines(self, inputname: str) -> list[list[str]]:
        text = self.out.read_text(encoding="utf-8") if self.out.exists() else ""
        return [fields for line in text.splitlines()
                if (fields := line.split("|", 6))[0] == inputname and fields[2] != PROBE]

    async def wait_lines(self, inputname: str, count: int, timeout: float = 10.0) -> list[list[str]]:
        deadline = time.monotonic() + timeout
        while len(lines := self.lines(inputname)) < count:
            assert time.monotonic() < deadline, f"{len(lines)} of {count} messages arrived over {inputname}"
            await asyncio.sleep(0.05)
        return lines

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


class RsyslogFactory:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Rsyslog] = []
        self.rsyslogd = shutil.which("rsyslogd") or shutil.which("rsyslogd", path="/usr/sbin:/sbin")
        if self.rsyslogd is None:
            pytest.fail("rsyslogd is not installed: apt-get install rsyslog (and rsyslog-openssl for TLS)")

    def start(self, *, udp: int | None = None, tcp: int | None = None, tls: Path | None = None) -> Rsyslog:
        work = self.tmp_path / f"rsyslog{len(self.started)}"
        work.mkdir(exist_ok=True)
        out = self.tmp_path / "received.log"  # shared: a restarted rsyslog appends to the same file
        conf = [f'global(workDirectory="{work}")']
        if tls:
            conf += [f'global(defaultNetstreamDriverCAFile="{tls}/ca.pem" defaultNetstreamDriverCertFile='
                     f'"{tls}/server.pem" defaultNetstreamDriverKeyFile="{tls}/server.key")',
                     'module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1" '
                     'streamDriver.authMode="anon")']
        elif tcp:
            conf.append('module(load="imtcp")')
        if udp:
            conf += ['module(load="imudp")', f'input(type="imudp" address="127.0.0.1" port="{udp}")']
        if tcp:
            conf.append(f'input(type="imtcp" address="127.0.0.1" port="{tcp}")')
        conf += [f'template(name="fields" type="string" string="{TEMPLATE}")',
                 f'*.* action(type="omfile" file="{out}" template="fields")']
        (work / "rsyslog.conf").write_text("\n".join(conf) + "\n")
        stderr = (work / "stderr").open("wb")
        proc = subprocess.Popen([self.rsyslogd, "-n", "-f", str(work / "rsyslog.conf"), "-i", str(work / "pid")],
                                stdout=stderr, stderr=stderr)
        rsyslog = Rsyslog(proc, out)
        self.started.append(rsyslog)
        deadline = time.monotonic() + 10
        while not self._ready(rsyslog, udp, tcp):
            if proc.poll() is not None or time.monotonic() > deadline:
                rsyslog.stop()
                hint = " (TLS needs apt-get install rsyslog-openssl)" if tls else ""
                pytest.fail(f"rsyslogd did not start{hint}: {(work / 'stderr').read_text()}")
            time.sleep(0.05)
        return rsyslog

    @staticmethod
    def _ready(rsyslog: Rsyslog, udp: int | None, tcp: int | None) -> bool:
        if udp:  # a probe datagram shows up in the output once the UDP input runs
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(f"<30>1 - - {PROBE} - - - ready".encode(), ("127.0.0.1", udp))
            if PROBE not in (rsyslog.out.read_text() if rsyslog.out.exists() else ""):
                return False
        if tcp:
            try:
                socket.create_connection(("127.0.0.1", tcp), timeout=0.2).close()
            except OSError:
                return False
        return True


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[RsyslogFactory]:
    factory = RsyslogFactory(tmp_path)
    yield factory
    for started in factory.started:
        started.stop()


def event(n: int, kind: EventType = EventType.FAILOVER) -> Event:
    return Event(kind, "bond0", slave="vf0", old_active="vf0", new_active="vf1", reason=f"#{n}")


def check_line(fields: list[str], inputname: str, ev: Event) -> str:
    """Check the header and message; return the structured data for the caller to compare."""
    name, pri, app, procid, msgid, sd, msg = fields
    assert (name, pri, app, msgid) == (inputname, str(3 * 8 + int(ev.severity)), "vfbondd", ev.type.value)
    assert procid.isdigit()
    assert msg.removeprefix(BOM.decode()) == ev.message()
    return sd


async def test_messages_and_structured_data_arrive_over_udp_and_tcp(rsyslog: RsyslogFactory) -> None:
    udp, tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    receiver = rsyslog.start(udp=udp, tcp=tcp)
    alerts = Dispatcher([SyslogSink(SyslogTarget("127.0.0.1", udp, "udp")),
                         SyslogSink(SyslogTarget("127.0.0.1", tcp, "tcp"))], queue_size=10)
    alerts.start()
    tricky = Event(EventType.BOND_ISOLATED, "bond0", reason='probes to "gw" failed [both] \\ down')
    flap = Event(EventType.FLAP_SUMMARY, "bond0", slave="vf1", details={"suppressed": 12, "state": "down"})
    for ev in (event(1), tricky, flap):
        alerts.publish(ev)
    for inputname in ("imudp", "imtcp"):
        lines = await receiver.wait_lines(inputname, 3)
        assert len(lines) == 3, f"duplicates over {inputname}"
        assert check_line(lines[0], inputname, event(1)) == (
            '[vfbond@32473 bond="bond0" slave="vf0" old="vf0" new="vf1" reason="#1" type="failover"]')
        assert check_line(lines[1], inputname, tricky) == (
            '[vfbond@32473 bond="bond0" reason="probes to \\"gw\\" failed [both\\] \\\\ down" type="bond_isolated"]')
        assert check_line(lines[2], inputname, flap) == (
            '[vfbond@32473 bond="bond0" slave="vf1" type="flap_summary"]'
            '[vfbondDetails@32473 suppressed="12" state="down"]')
    stats = alerts.stats()
    assert [s["delivered"] for s in stats.values()] == [3, 3]
    await alerts.close()


def make_certs(directory: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1 that it signed."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vfbond test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now).not_valid_after(now + datetime.timedelta(hours=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    return directory


async def test_tls_verifies_the_server_against_ca_file(rsyslog: RsyslogFactory, tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    port = free_port(socket.SOCK_STREAM)
    receiver = rsyslog.start(tcp=port, tls=certs)
    sink = SyslogSink(SyslogTarget("127.0.0.1", port, "tls", ca_file=str(certs / "ca.pem")))
    await sink.send(event(1))
    [line] = await receiver.wait_lines("imtcp", 1)
    check_line(line, "imtcp", event(1))
    await sink.close()

    untrusted = SyslogSink(SyslogTarget("127.0.0.1", port, "tls"))  # system CAs do not know the test CA
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        await untrusted.send(event(2))
    await untrusted.close()


class LoopLag:
    """Stands in for the supervisor loop: a 10 ms ticker that records how late it wakes up."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - start - 0.01)

    def stop(self) -> None:
        self._task.cancel()


def publish_timed(alerts: Dispatcher, events: list[Event]) -> list[float]:
    latencies = []
    for ev in events:
        start = time.perf_counter()
        alerts.publish(ev)
        latencies.append(time.perf_counter() - start)
    return latencies


# CI machines are small and shared: an idle asyncio loop here wakes up 100 ms late and more now
# and then under load, so the lag bound sits well above that noise and below what a blocking sink
# costs (the 1.5 s connect timeout of a black-holed receiver).
MAX_PUBLISH, MAX_LAG, BLACKHOLE_TIMEOUT = 0.05, 0.75, 1.5


async def test_a_down_receiver_never_blocks_publish_and_gets_the_queue_in_order_when_back(
        rsyslog: RsyslogFactory) -> None:
    port = free_port(socket.SOCK_STREAM)  # nothing listens: connections are refused
    queue_size = 50
    alerts = Dispatcher([SyslogSink(SyslogTarget("127.0.0.1", port, "tcp"))], queue_size=queue_size, **FAST)
    alerts.start()
    lag = LoopLag()
    # No await in between, so the 10 beyond the bound are counted as dropped, not raised.
    latencies = publish_timed(alerts, [event(n) for n in range(queue_size + 10)])
    await asyncio.sleep(1.0)  # the worker keeps retrying meanwhile
    lag.stop()
    [stats] = alerts.stats().values()
    assert stats["dropped"] == 10 and stats["queued"] == queue_size and stats["delivered"] == 0
    assert stats["retries"] >= 3 and "ConnectionRefusedError" in stats["last_error"]
    assert max(latencies) < MAX_PUBLISH, f"publish took up to {max(latencies) * 1e3:.2f} ms"
    assert lag.worst < MAX_LAG, f"the loop was blocked for up to {lag.worst * 1e3:.0f} ms"
    latencies.sort()
    print(f"\nrefused receiver: publish median {latencies[len(latencies) // 2] * 1e6:.1f} us, "
          f"max {latencies[-1] * 1e6:.0f} us; loop lag max {lag.worst * 1e3:.1f} ms; "
          f"{stats['retries']} retries in 1 s")

    receiver = rsyslog.start(tcp=port)
    lines = await receiver.wait_lines("imtcp", queue_size)
    assert [line[6].removeprefix(BOM.decode()) for line in lines] == [event(n).message() for n in range(queue_size)]
    [stats] = alerts.stats().values()
    assert (stats["delivered"], stats["queued"], stats["dropped"]) == (queue_size, 0, 10)

    # The receiver restarts: what is published while it is away arrives once it is back.
    receiver.stop()
    await asyncio.sleep(0.2)
    for n in range(100, 105):
        alerts.publish(event(n))
    await asyncio.sleep(0.3)
    receiver = rsyslog.start(tcp=port)
    lines = await receiver.wait_lines("imtcp", queue_size + 5)
    assert [line[6].removeprefix(BOM.decode()) for line in lines[queue_size:]] == \
        [event(n).message() for n in range(100, 105)]
    await alerts.close()


async def test_a_black_holed_receiver_never_blocks_publish() -> None:
    # A listener that never accepts, with its accept queue filled: further SYNs are dropped and
    # connect() hangs, as with a firewall that drops packets to the syslog server.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        sink = SyslogSink(SyslogTarget("127.0.0.1", port, "tcp"), connect_timeout=BLACKHOLE_TIMEOUT)
        alerts = Dispatcher([sink], queue_size=10, **FAST)
        alerts.start()
        lag = LoopLag()
        latencies = publish_timed(alerts, [event(n) for n in range(10)])
        await asyncio.sleep(BLACKHOLE_TIMEOUT + 0.5)
        lag.stop()
        [stats] = alerts.stats().values()
        assert stats["delivered"] == 0 and stats["queued"] == 10
        assert stats["retries"] >= 1 and stats["last_error"].startswith("TimeoutError")
        assert max(latencies) < MAX_PUBLISH, f"publish took up to {max(latencies) * 1e3:.2f} ms"
        assert lag.worst < MAX_LAG, f"the loop was blocked for up to {lag.worst * 1e3:.0f} ms"
        print(f"\nblack-holed receiver: publish max {max(latencies) * 1e6:.0f} us; "
              f"loop lag max {lag.worst * 1e3:.1f} ms while connect() hung")
        await alerts.close(timeout=0.01)
        for filler in fillers:
            filler.close()
