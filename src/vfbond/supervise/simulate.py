"""simulate-failover: switch to the backup on purpose and prove traffic flows on it.

A stream of ARP requests for the gateway goes out through the bond every 10 ms from before the
switch until the gateway answers after it. In active-backup the bond only receives through its
active slave, so an answer after the switch came through the new slave; the requests sent after
the switch that got no answer are the probes lost to it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import asdict, dataclass
from typing import Any

from vfbond.kernel.bond_state import read_bond
from vfbond.supervise.supervisor import Supervisor
from vfbond.watch import arp
from vfbond.watch.probe_socket import hw_address, open_packet_socket

STREAM_INTERVAL = 0.01  # 100 requests/s: a 10 ms resolution for the outage, still a trickle


@dataclass
class SwitchReport:
    old_active: str
    new_active: str
    switch_ms: float  # request -> kernel reports the new active slave
    traffic_ms: float | None  # request -> first gateway reply through the new slave
    probes_sent: int
    probes_lost: int
    target: str | None
    mac_after: str  # the bond's MAC: with fail_over_mac=active, the new slave's own


def probe_target(sup: Supervisor) -> tuple[str | None, str | None]:
    """An IPv4 address to ARP for (configured probe target, else the gateway) and our sender IP."""
    bond = sup.config.bond
    targets = [t for t in sup.config.probes.targets if ipaddress.ip_address(t).version == 4]
    target = targets[0] if targets else bond.ipv4.gateway
    return target, bond.ipv4.first_ip


async def switch_and_prove(sup: Supervisor, new_active: str, reason: str, timeout: float = 5.0) -> SwitchReport:
    state = sup.state
    assert state is not None and state.active_slave is not None
    old_active = state.active_slave
    target, sender = probe_target(sup)
    loop = asyncio.get_running_loop()
    answered = asyncio.Event()
    sent = received = 0  # counted from the switch on
    switched = False  # only an answer after the kernel switched proves the new slave
    sock = open_packet_socket(state.name, arp.ETH_P_ARP, arp.FILTER) if target else None

    def on_reply(sock: socket.socket, target: str) -> None:
        nonlocal received
        try:
            while True:
                frame = sock.recv(2048)
                if arp.replier(frame, hw_address(sock)) == target:
                    received += 1
                    if switched:
                        answered.set()
        except BlockingIOError:
            pass

    async def stream(sock: socket.socket, target: str) -> None:
        nonlocal sent
        while True:
            # Rebuilt each time: the bond's MAC follows the active slave under fail_over_mac=active.
            sock.send(arp.request(hw_address(sock), target, sender))
            sent += 1
            await asyncio.sleep(STREAM_INTERVAL)

    streamer = None
    try:
        if sock is not None and target:
            loop.add_reader(sock.fileno(), on_reply, sock, target)
            streamer = asyncio.create_task(stream(sock, target))
            await asyncio.sleep(3 * STREAM_INTERVAL)  # the stream is flowing before the switch
            answered.clear()
            sent = received = 0
        t0 = time.monotonic()
        sup.pinned = new_active  # the policy must not fail back while we measure, or after
        await sup.switch(new_active, reason)
        switch_ms = None
        traffic_ms = None
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            current = await read_bond(sup.ipr, state.name)
            if current is not None and current.active_slave == new_active:
                switch_ms = (time.monotonic() - t0) * 1000
                switched = True
                break
            await asyncio.sleep(0.002)
        if switch_ms is None:
            raise TimeoutError(f"the kernel did not make {new_active} active within {timeout:.0f} s")
        if sock is not None:
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):  # not wait_for (3.11)
                    await answered.wait()
                traffic_ms = (time.monotonic() - t0) * 1000
            except TimeoutError:
                pass
            await asyncio.sleep(0.1)  # late replies to requests sent just before the first answer
    finally:
        if streamer is not None:
            streamer.cancel()
            await asyncio.gather(streamer, return_exceptions=True)
        if sock is not None:
            loop.remove_reader(sock.fileno())
            sock.close()
    await sup.refresh()
    after = sup.state
    return SwitchReport(old_active=old_active, new_active=new_active, switch_ms=round(switch_ms, 2),
                        traffic_ms=round(traffic_ms, 2) if traffic_ms is not None else None,
                        probes_sent=sent, probes_lost=max(0, sent - received), target=target,
                        mac_after=after.link.mac if after else "")


def report_dict(report: SwitchReport) -> dict[str, Any]:
    return asdict(report)
