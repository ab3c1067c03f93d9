"""The requests of one read of the bond (kernel/bond_state.py read_bond), natively, in a namespace with
`--links` links. Needs root (a network namespace).

    sudo .venv/bin/python bench/reads.py [--links 14] [--runs 300]

The host has no bonding driver: a bridge with two veth ports stands in for bond0 (IFLA_MASTER
filters a bridge's ports as it does a bond's slaves), the rest are veth pairs. Prints the median
of each request (sent, answered and decoded by pyroute2) and of a whole read before and after
the bond's slaves were dumped alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable

from pyroute2 import AsyncIPRoute

from vfbond.kernel.bond_state import addresses, dump_links


def sh(ns: str, *cmds: str) -> None:
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(cmds) + "\n", text=True, check=True)


def build(ns: str, links: int) -> None:
    """lo, bond0 (a bridge) with vf0 and vf1, their switch ports, then veth pairs up to `links`."""
    cmds = ["link add bond0 type bridge", "addr add 192.0.2.10/24 dev bond0", "addr add 2001:db8::10/64 dev bond0"]
    for i in range(2):
        cmds += [f"link add vf{i} type veth peer name sw{i}", f"link set vf{i} master bond0"]
    cmds += [f"link add x{i} type veth peer name y{i}" for i in range((links - 6) // 2)]
    sh(ns, *cmds)
    sh(ns, *(f"link set {line.split(':')[1].strip().split('@')[0]} up" for line in
             subprocess.run(["ip", "-n", ns, "-o", "link"], capture_output=True, text=True).stdout.splitlines()))


async def median_ms(step: Callable[[], Awaitable[object]], runs: int) -> float:
    for _ in range(runs // 10):  # warm up
        await step()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await step()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


async def run(ns: str, runs: int) -> None:
    async with AsyncIPRoute(netns=ns) as ipr:
        (index,) = await ipr.link_lookup(ifname="bond0")
        print(f"{len(await dump_links(ipr))} links, bond0 has {len(await dump_links(ipr, master=index))} slaves")
        steps: dict[str, Callable[[], Awaitable[object]]] = {
            "link get of the bond": lambda: ipr.link("get", index=index),
            "dump of every link": lambda: dump_links(ipr),
            "dump of the slaves (IFLA_MASTER)": lambda: dump_links(ipr, master=index),
            "address dump": lambda: addresses(ipr, index),
        }
        ms = {name: await median_ms(step, runs) for name, step in steps.items()}
        for name, value in ms.items():
            print(f"{name:<36} median {value:6.2f} ms")
        get, every, slaves, addrs = ms.values()
        print(f"{'read before (get, every link, addresses)':<44} {get + every + addrs:6.2f} ms")
        print(f"{'read after (get, slaves, addresses)':<44} {get + slaves + addrs:6.2f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--links", type=int, default=14)
    p.add_argument("--runs", type=int, default=300)
    args = p.parse_args()
    ns = f"vfb-reads-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        build(ns, args.links)
        asyncio.run(run(ns, args.runs))
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
