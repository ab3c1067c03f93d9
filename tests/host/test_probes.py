"""Per-slave probes against a real kernel: a guest netns with two slaves p0/p1 whose veth peers sit
in a bridge in a switch netns that owns 192.0.2.1/24 and 2001:db8::1/64 (the kernel answers)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator

import pytest
from pyroute2.netns import popns, pushns
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, IPv6
from scapy.layers.l2 import ARP, Ether

from vfbond.config import ProbeConfig
from vfbond.judge.health import Health, ProbeResult
from vfbond.shared.status import Verdict
from vfbond.watch import arp, ndisc
from vfbond.watch.probe_socket import open_packet_socket
from vfbond.watch.probes import SlaveProber

from .conftest import sh

pytestmark = pytest.mark.host

GW4, GW6, BOND_IP = "192.0.2.1", "2001:db8::1", "192.0.2.10"
MACS = {"p0": "02:00:5e:00:0b:00", "p1": "02:00:5e:00:0b:01"}
SLAVES = {"sriov0": "p0", "sriov1": "p1"}
CONFIG = ProbeConfig(enabled=True, targets=(GW4, GW6), interval_ms=200, timeout_ms=150, failures=3, window=20)
ETH_P_ALL, PACKET_OUTGOING = 0x0003, 4


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """Move this thread (the one running the event loop) into `ns`; sockets opened meanwhile stay there."""
    pushns(ns)
    try:
        yield
    finally:
        popns()


def add_slave(guest: str, switch: str, name: str, mac: str, port: str) -> None:
    sh(f"ip -n {guest} link add {name} address {mac} type veth peer name {port} netns {switch}")
    sh(f"ip -n {switch} link set {port} master br0 up")
    sh(f"ip -n {guest} link set {name} up")


@pytest.fixture
def lab(netns: Callable[[], str]) -> Iterator[tuple[str, str]]:
    """(guest, switch); the test runs inside guest, as vfbondd runs in the VM's namespace: the prober
    resolves interface names and indexes in the netns of the thread running the event loop."""
    guest, switch = netns(), netns()
    sh(f"ip -n {switch} link add br0 type bridge mcast_snooping 0")
    sh(f"ip -n {switch} addr add {GW4}/24 dev br0")
    sh(f"ip -n {switch} addr add {GW6}/64 dev br0 nodad")
    sh(f"ip -n {switch} link set br0 up")
    for i, (name, mac) in enumerate(MACS.items()):
        add_slave(guest, switch, name, mac, f"sw{i}")
    with inside(guest):
        yield guest, switch


def carrier(ns: str, ifname: str) -> bool:
    return "LOWER_UP" in json.loads(sh(f"ip -n {ns} -j link show {ifname}"))[0]["flags"]


async def wait_for(check: Callable[[], bool], timeout: float, what: str, since: float | None = None) -> float:
    """Seconds from `since` (default: now) until `check()` holds, polled every 5 ms."""
    start = time.monotonic() if since is None else since
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


async def act(cmd: Callable[[], object]) -> tuple[float, float]:
    """Run a blocking setup step in a thread so the probers keep their schedule meanwhile.

    Returns the times just before and after it: the change took effect somewhere in between.
    """
    start = time.monotonic()
    await asyncio.to_thread(cmd)
    return start, time.monotonic()


def drain(sock: socket.socket) -> list[Ether]:
    """Frames received (not sent) on a switch port since the last call."""
    frames = []
    while True:
        try:
            data, addr = sock.recvfrom(4096)
        except BlockingIOError:
            return frames
        if addr[2] != PACKET_OUTGOING:
            frames.append(Ether(data))


class Guest:
    """Two probers feeding one Health, as the daemon wires them."""

    def __init__(self, guest: str) -> None:
        self.ns = guest
        self.changes: list[tuple[str, Verdict, Verdict]] = []
        self.results: list[ProbeResult] = []
        self.health = Health(SLAVES, CONFIG, on_change=lambda *c: self.changes.append(c))
        self.probers = {
            slave: SlaveProber(slave, ifname, CONFIG, on_result=self.record, on_presence=self.health.set_present,
                               sender_ipv4=BOND_IP if slave == "sriov0" else None)
            for slave, ifname in SLAVES.items()
        }

    def record(self, result: ProbeResult) -> None:
        self.results.append(result)
        self.health.record(result)

    def sync_carrier(self) -> None:
        for slave, prober in self.probers.items():
            if prober.present:
                self.health.set_carrier(slave, carrier(self.ns, prober.ifname))

    def verdict(self, slave: str) -> Verdict:
        return self.health.verdict(slave)


async def test_probes_detect_a_dead_path_per_slave_and_survive_unplug(lab: tuple[str, str]) -> None:
    guest, switch = lab
    loop = asyncio.get_running_loop()
    errors: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    with inside(switch):
        taps = {}
        for i in range(2):
            taps[i] = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.htons(ETH_P_ALL))
            taps[i].bind((f"sw{i}", ETH_P_ALL))
    g = Guest(guest)
    for prober in g.probers.values():
        prober.start()
    try:
        g.sync_carrier()
        await wait_for(lambda: all(g.verdict(s) is Verdict.UP for s in SLAVES), 2, "both slaves up")
        await asyncio.sleep(1)  # a few rounds for the figures
        snap = g.health.snapshot()
        print()
        for slave in SLAVES:
            s = snap[slave]
            print(f"{slave}: rtt last {s['rtt_last_ms']} ms avg {s['rtt_avg_ms']} ms, loss {s['loss_pct']} %")
            for target in (GW4, GW6):
                t = s["targets"][target]
                assert t["state"] == "healthy" and t["loss_pct"] == 0.0 and 0 < t["rtt_avg_ms"] < 50

        # Each slave's requests reach the switch on its own port, with its own MAC as source.
        for i, (ifname, mac) in enumerate(MACS.items()):
            frames = drain(taps[i])
            arps = [f for f in frames if ARP in f and f[ARP].op == 1 and f[ARP].pdst == GW4]
            nss = [f for f in frames if ICMPv6ND_NS in f and f[ICMPv6ND_NS].tgt == GW6]
            assert len(arps) >= 5 and len(nss) >= 5, f"{ifname}: {len(arps)} ARP, {len(nss)} NS seen"
            assert {f.src for f in arps + nss} == {mac}
            assert {f[ARP].hwsrc for f in arps} == {mac}
            assert {f[ARP].psrc for f in arps} == {BOND_IP if ifname == "p0" else "0.0.0.0"}
            assert {f[IPv6].src for f in nss} == {ndisc.probe_source(mac)}

        # Blackhole p1's path at the switch while its carrier stays up.
        bound = (CONFIG.failures * CONFIG.interval_ms + CONFIG.timeout_ms) / 1000
        # (nft netdev ingress: this kernel has no tc actions.)
        t0, t1 = await act(lambda: sh(f"ip netns exec {switch} nft 'add table netdev blackhole; add chain netdev "
                                      "blackhole in { type filter hook ingress device sw1 priority 0; policy drop; }'"))
        t_detect = await wait_for(lambda: g.verdict("sriov1") is Verdict.PATH_DOWN, 3, "sriov1 path_down", t0)
        print(f"path loss on sriov1 detected {(t_detect - (t1 - t0)) * 1000:.0f}..{t_detect * 1000:.0f} ms after "
              f"the drop rule went in (bound failures*interval+timeout = {bound * 1000:.0f} ms)")
        assert t_detect - (t1 - t0) <= bound + 0.05  # + loop jitter
        assert carrier(guest, "p1")
        g.sync_carrier()
        assert g.verdict("sriov1") is Verdict.PATH_DOWN and g.verdict("sriov0") is Verdict.UP

        t0, _ = await act(lambda: sh(f"ip netns exec {switch} nft delete table netdev blackhole"))
        t_back = await wait_for(lambda: g.verdict("sriov1") is Verdict.UP, 2, "sriov1 up again", t0)
        print(f"sriov1 healthy again {t_back * 1000:.0f} ms after the path returned")
        assert not [c for c in g.changes if c[0] == "sriov0" and c[2] is not Verdict.UP], "sriov0 flapped"

        # VF hot-unplug: reported missing, no exception; the other slave keeps probing.
        t0, _ = await act(lambda: sh(f"ip -n {guest} link del p1"))
        t_gone = await wait_for(lambda: g.verdict("sriov1") is Verdict.MISSING, 1, "sriov1 missing", t0)
        print(f"sriov1 reported missing {t_gone * 1000:.0f} ms after removal")
        g.results.clear()
        await asyncio.sleep(4 * CONFIG.interval_ms / 1000)
        assert {r.slave for r in g.results} == {"sriov0"} and all(r.ok for r in g.results)

        # It returns under the same name and MAC: found again on the next round, proven before `up`.
        t0, _ = await act(lambda: add_slave(guest, switch, "p1", MACS["p1"], "sw1"))
        g.sync_carrier()
        t_ret = await wait_for(lambda: g.verdict("sriov1") is Verdict.UP, 2, "sriov1 back", t0)
        print(f"sriov1 up {t_ret * 1000:.0f} ms after it was re-created")
        assert (Verdict.MISSING, Verdict.UNKNOWN) in [(c[1], c[2]) for c in g.changes if c[0] == "sriov1"]

        # It returns under another name: the daemon points the prober at it.
        await act(lambda: sh(f"ip -n {guest} link del p1"))
        await wait_for(lambda: g.verdict("sriov1") is Verdict.MISSING, 1, "sriov1 missing again")
        await act(lambda: add_slave(guest, switch, "vf7", MACS["p1"], "sw1"))
        g.probers["sriov1"].reopen("vf7")
        g.sync_carrier()
        await wait_for(lambda: g.verdict("sriov1") is Verdict.UP, 2, "sriov1 up as vf7")
        assert g.probers["sriov1"].mac == MACS["p1"]

        assert not errors, errors
        assert not any(p._task is None or p._task.done() for p in g.probers.values())
    finally:
        for prober in g.probers.values():
            await prober.stop()
        for tap in taps.values():
            tap.close()


def inject(sock: socket.socket, frame: Ether) -> None:
    sock.send(bytes(frame))


async def test_kernel_filter_passes_only_replies_to_the_slave_mac(lab: tuple[str, str]) -> None:
    guest, switch = lab
    me, other, gw = MACS["p0"], "02:00:5e:00:0b:99", "02:00:5e:00:0b:fe"
    socks = {4: open_packet_socket("p0", arp.ETH_P_ARP, arp.FILTER),
             6: open_packet_socket("p0", ndisc.ETH_P_IPV6, ndisc.FILTER)}
    with inside(switch):
        port = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        port.bind(("sw0", 0))
    try:
        # Let the guest kernel's own IPv6 chatter on p0 (DAD, RS) pass before counting.
        await asyncio.sleep(0.2)
        for sock in socks.values():
            while True:
                try:
                    sock.recv(4096)
                except BlockingIOError:
                    break
        wanted = {
            4: Ether(src=gw, dst=me) / ARP(op=2, hwsrc=gw, psrc=GW4, hwdst=me, pdst="0.0.0.0"),
            6: Ether(src=gw, dst=me) / IPv6(src=GW6, dst="fe80::1") / ICMPv6ND_NA(tgt=GW6, S=1),
        }
        unwanted = [
            Ether(src=gw, dst=other) / ARP(op=2, hwsrc=gw, psrc=GW4, hwdst=other),  # for another MAC
            Ether(src=gw, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=gw, psrc=GW4, pdst=GW4),  # gratuitous
            Ether(src=gw, dst=me) / ARP(op=1, hwsrc=gw, psrc=GW4, pdst=BOND_IP),  # a request
            Ether(src=gw, dst=me) / IP(src=GW4, dst=BOND_IP) / UDP(),  # data
            Ether(src=gw, dst=me) / IPv6(src=GW6, dst="fe80::1") / ICMPv6ND_NS(tgt="fe80::1"),
            Ether(src=gw, dst=me) / IPv6(src=GW6, dst="fe80::1") / ICMPv6EchoRequest(),
            Ether(src=gw, dst=other) / IPv6(src=GW6, dst="fe80::1") / ICMPv6ND_NA(tgt=GW6, S=1),
        ]
        for frame in unwanted + list(wanted.values()):
            inject(port, frame)
        await asyncio.sleep(0.1)
        for version, sock in socks.items():
            got = [sock.recv(4096)]
            with pytest.raises(BlockingIOError):
                got.append(sock.recv(4096))
            assert got[0] == bytes(wanted[version]), Ether(got[0]).summary()
        assert arp.replier(bytes(wanted[4]), me) == GW4
        assert ndisc.advertiser(bytes(wanted[6]), me) == GW6
        # The parsers check again what the filter checked, so they are safe on any frame.
        assert arp.replier(bytes(wanted[4]), other) is None
        assert ndisc.advertiser(bytes(wanted[6]), other) is None
        assert ndisc.advertiser(bytes(wanted[6])[:60], me) is None
        assert ndisc.advertiser(bytes(Ether(dst=me) / IPv6() / ICMPv6ND_NA(tgt=GW6, S=0)), me) is None
        assert arp.replier(bytes(wanted[6]), me) is None and ndisc.advertiser(bytes(wanted[4]), me) is None
    finally:
        for sock in [*socks.values(), port]:
            sock.close()


COST_SCRIPT = textwrap.dedent("""
    import asyncio, json, os, resource, sys, time
    from vfbond.config import ProbeConfig
    from vfbond.judge.health import Health
    from vfbond.watch.probes import SlaveProber

    DURATION = float(sys.argv[1])
    config = ProbeConfig(enabled=True, targets=("192.0.2.1", "2001:db8::1"), interval_ms=500, timeout_ms=400)

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    async def main() -> dict:
        health = Health(["sriov0", "sriov1"], config)
        results = []
        def record(r):
            results.append(r.ok)
            health.record(r)
        probers = [SlaveProber(slave, ifname, config, record, health.set_present)
                   for slave, ifname in (("sriov0", "p0"), ("sriov1", "p1"))]
        for p in probers:
            p.start()
        await asyncio.sleep(1)  # warm-up: imports and first frames are not steady state
        c0, t0, n0 = cpu(), time.monotonic(), len(results)
        await asyncio.sleep(DURATION)
        c1, t1 = cpu(), time.monotonic()
        for p in probers:
            await p.stop()
        rss = int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
        return {"cpu_pct": 100 * (c1 - c0) / (t1 - t0), "rss_kb": rss, "seconds": t1 - t0,
                "probes": len(results) - n0, "ok": sum(results[n0:]), "snapshot": health.snapshot()}

    print(json.dumps(asyncio.run(main())))
""")


def test_cost_of_probing_two_slaves_at_500ms(lab: tuple[str, str]) -> None:
    guest, _ = lab
    duration = float(os.environ.get("VFBOND_COST_SECONDS", "30"))
    done = subprocess.run(["ip", "netns", "exec", guest, sys.executable, "-c", COST_SCRIPT, str(duration)],
                          capture_output=True, text=True, timeout=duration + 30)
    assert done.returncode == 0, done.stderr
    cost = json.loads(done.stdout)
    print(f"\nprober cost, 2 slaves x 2 targets every 500 ms for {cost['seconds']:.0f} s: "
          f"CPU {cost['cpu_pct']:.3f} %, RSS {cost['rss_kb'] / 1024:.1f} MiB, "
          f"{cost['ok']}/{cost['probes']} probes answered")
    expected = 2 * 2 * duration / 0.5
    assert cost["probes"] >= 0.9 * expected and cost["ok"] == cost["probes"]
    assert cost["cpu_pct"] < 1.0


async def test_a_link_local_gateway_answers_each_slave(lab: tuple[str, str]) -> None:
    """fe80::1, what routers advertise, is probed out of each slave like any target (the socket is per slave)."""
    guest, switch = lab
    sh(f"ip -n {switch} addr add fe80::1/64 dev br0 nodad")
    config = ProbeConfig(enabled=True, targets=("fe80::1",), interval_ms=100, timeout_ms=80, failures=3, window=10)
    results: list[ProbeResult] = []
    probers = [SlaveProber(slave, ifname, config, on_result=results.append, on_presence=lambda *_: None)
               for slave, ifname in SLAVES.items()]
    for prober in probers:
        prober.start()
    try:
        await wait_for(lambda: {r.slave for r in results if r.ok} == set(SLAVES), 2, "an answer on each slave")
    finally:
        for prober in probers:
            await prober.stop()
    assert {r.target for r in results} == {"fe80::1"}
