"""The fast-failover hot path, natively: from a recorded carrier-loss netlink message to the
kernel's answer to the IFLA_BOND_ACTIVE_SLAVE request, through vfbondd's own code, both ways in
one run, interleaved. Needs root (a network namespace).

    sudo .venv/bin/python bench/hotpath.py [--runs 2000] [--profile]

- armed: what vfbondd does. The link watcher's reader hands the raw datagram to the supervisor's
  tap, which scans it for the cached ifindexes and sends the switch request pre-built after the
  last read (kernel/fastswitch.py): no pyroute2, no await.
- locked: the path it falls back to (an apply running, the executor busy): pyroute2 decodes the
  message, the supervisor decides, and pyroute2 builds and sends the request under the lock.

The host has no bonding driver, so the request goes to a veth standing in for bond0: the kernel
refuses it (EOPNOTSUPP), which costs the same round trip as a bond accepting it, minus the
bonding driver's own work. The script runs itself again under `ip netns exec`, so sysfs (the
armed path's stale-message check) shows the namespace's links.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import errno
import logging
import pstats
import socket
import statistics
import subprocess
import sys
import time
import uuid

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTMGRP_LINK
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from vfbond.config import parse
from vfbond.judge.flap import FlapLimiter
from vfbond.kernel import actions
from vfbond.kernel.bond_state import BondState, LinkInfo, SlaveState
from vfbond.kernel.carrier_scan import carriers
from vfbond.kernel.fastswitch import FastSwitch
from vfbond.report.history import History
from vfbond.report.reporter import Reporter
from vfbond.shared.faults import Faults
from vfbond.supervise.supervisor import Supervisor
from vfbond.watch.links import LinkEvent

CONFIG = """
bond:
  slaves: [{label: sriov0, name: vf0}, {label: sriov1, name: vf1}]
  miimon: 1000
  primary: sriov0
backend: netlink
"""


def sh(ns: str, *cmds: str) -> None:
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(cmds) + "\n", text=True, check=True)


def record() -> bytes:
    """The netlink datagram announcing vf0's carrier loss (its switch port set down)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    sock.bind((0, RTMGRP_LINK))
    sock.settimeout(2)
    subprocess.run(["ip", "link", "set", "sw0", "down"], check=True)
    marshal = MarshalRtnl()
    while True:
        data = sock.recv(1 << 16)
        if any(m.get("ifname") == "vf0" and not m.get("carrier") for m in marshal.parse(data)):
            sock.close()
            return data


def reading() -> BondState:
    links = {}
    for name in ("vf0", "vf1", "bond0"):
        out = subprocess.run(["ip", "-o", "link", "show", name], capture_output=True, text=True)
        links[name] = int(out.stdout.split(":", 1)[0])

    def info(name: str) -> LinkInfo:
        return LinkInfo(index=links[name], name=name, mac=f"02:00:00:00:00:{links[name]:02x}", perm_mac=None,
                        kind="veth", master=links["bond0"], carrier=True, operstate="UP", mtu=1500)

    return BondState(link=info("bond0"), mode="active-backup", active_slave="vf0", miimon=1000, updelay=0,
                     downdelay=0, fail_over_mac="active", primary="vf0", primary_reselect="always", arp_interval=0,
                     arp_ip_targets=[], num_peer_notif=1,
                     slaves=[SlaveState(info(n), "active" if n == "vf0" else "backup", "up", 0, None)
                             for n in ("vf0", "vf1")])


async def run(data: bytes, runs: int, profile: bool) -> None:
    ipr = AsyncIPRoute()
    faults = Faults()
    reporter = Reporter(History(None), lambda e: None, FlapLimiter(10), faults)
    fast = FastSwitch()
    fast.open()
    sup = Supervisor(parse(CONFIG), ipr, reporter, faults, fastswitch=fast)
    state = reading()
    marks: dict[str, float] = {}
    original = actions.set_active_slave

    async def timed_request(ipr: AsyncIPRoute, bond_index: int, slave_index: int) -> None:
        marks["request"] = time.perf_counter()
        try:
            await original(ipr, bond_index, slave_index)
        finally:
            marks["answer"] = time.perf_counter()
        raise NetlinkError(95, "stop here: the read-back after the switch is not on the hot path")

    actions.set_active_slave = timed_request  # type: ignore[assignment]
    marshal = MarshalRtnl()
    steps: dict[str, list[float]] = {k: [] for k in ("armed", "  handed", "in place", "locked", "  parse",
                                                      "  decide", "  request")}
    profiler = cProfile.Profile() if profile else None
    for _ in range(runs):
        sup.executor.state, sup.executor.read_at = state, 0.0
        sup.fast.arm()  # what each read of the bond ends with
        t0 = time.monotonic()
        if profiler:
            profiler.enable()
        switched = sup.fast.tap(data, t0)
        if profiler:
            profiler.disable()
        steps["  handed"].append(time.monotonic() - t0)  # how long the reader (the event loop) was held
        assert switched is not None
        marshal.parse(data)  # what the reader does next, holding the GIL the sender thread needs
        answer = switched.answer.result()
        assert answer.error == errno.EOPNOTSUPP, answer
        steps["armed"].append(answer.answered - t0)

        # The same request sent from the reader itself, as before the sender thread: the loop is held
        # for the kernel's answer (seconds on an igbvf PF reset), the hand-over is saved.
        sup.fast.arm()
        t0 = time.monotonic()
        assert any(not up for _, up in carriers(data, (state.slaves[0].link.index,)))
        fast._sock.send(fast._request)  # type: ignore[union-attr]
        error = fast._read_answer(fast._seq)
        steps["in place"].append(time.monotonic() - t0)
        assert error == errno.EOPNOTSUPP, error

        t0 = time.perf_counter()
        events = [LinkEvent.from_msg(m, time.monotonic()) for m in marshal.parse(data)
                  if m.get("event") == "RTM_NEWLINK"]
        t1 = time.perf_counter()
        await sup.fast.fail_over(events[-1].name, events[-1].at)  # what on_link calls when the tap did not fire
        steps["  parse"].append(t1 - t0)
        steps["  decide"].append(marks["request"] - t1)
        steps["  request"].append(marks["answer"] - marks["request"])
        steps["locked"].append(marks["answer"] - t0)
    for step, samples in steps.items():
        print(f"{step:<10} median {statistics.median(samples) * 1e6:8.1f} us   "
              f"p95 {statistics.quantiles(samples, n=20)[18] * 1e6:8.1f} us")
    print(f"locked / armed: {statistics.median(steps['locked']) / statistics.median(steps['armed']):.1f}x, "
          f"armed / in place: {statistics.median(steps['armed']) / statistics.median(steps['in place']):.2f}x "
          "(medians)")
    if profiler:
        print("profile of the armed path:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)
    fast.close()
    ipr.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=2000)
    p.add_argument("--profile", action="store_true", help="cProfile the armed path (slower; shares, not times)")
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)  # already in the namespace
    args = p.parse_args()
    if args.inside:
        logging.disable(logging.WARNING)  # the refused switch logs a warning per run
        data = record()
        print(f"recorded carrier-loss datagram: {len(data)} bytes")
        asyncio.run(run(data, args.runs, args.profile))
        return
    ns = f"vfb-hot-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        sh(ns, "link add vf0 type veth peer name sw0", "link add vf1 type veth peer name sw1",
           "link add bond0 type veth peer name bondp",
           *(f"link set {n} up" for n in ("vf0", "vf1", "sw0", "sw1", "bond0", "bondp")))
        sys.exit(subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__, "--inside",
                                 "--runs", str(args.runs), *(["--profile"] if args.profile else [])]).returncode)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
