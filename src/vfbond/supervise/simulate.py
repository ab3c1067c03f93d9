"""simulate-failover: switch to the backup on purpose and prove traffic flows on it.

A stream of ARP requests for the gateway (Neighbor Solicitations on a bond without IPv4) goes out
through the bond every 10 ms from before the switch until the gateway answers after it. In
active-backup the bond only receives through its active slave, so an answer after the switch came
through the new slave; the requests sent after the switch that got no answer are the probes lost to it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import asdict, dataclass
from typing import Any

from vfbond.kernel.bond_state import read_bond
from vfbond.shared.status import Verdict
from vfbond.supervise.supervisor import Supervisor
from vfbond.watch.probe_socket import hw_address, open_packet_socket
from vfbond.watch.probes import ANSWERED, ETHERTYPE, FILTER, request_frame

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


class Refused(Exception):
    """No fair test to run: no bond, nothing to switch between, or a backup that would cut the VM off."""

    def __init__(self, reason: str, no_bond: bool = False) -> None:
        super().__init__(reason)
        self.no_bond = no_bond


def pick_backup(sup: Supervisor, force: bool = False) -> tuple[str, str]:
    """The active slave and the backup to switch to, as the supervisor last read them; Refused
    says why not. An unhealthy backup, or a bond with nothing to ask for the proof, is refused
    unless `force`."""
    state = sup.state
    if state is None:
        raise Refused(f"{sup.bond} not present", no_bond=True)
    active = state.active_slave
    backups = [s.name for s in state.slaves if s.name != active]
    if active is None or not backups:
        raise Refused(f"{state.name} has no active slave and backup to switch between "
                      f"(active: {active or 'none'}, slaves: {', '.join(s.name for s in state.slaves)})")
    backup = backups[0]
    verdict = sup.verdicts().get(backup, Verdict.UNKNOWN)
    if verdict != Verdict.UP and not force:
        raise Refused(f"backup {backup} is {verdict}: switching to it would cut the VM off. "
                      "Repair it first, or pass --force")
    if probe_target(sup)[0] is None and not force:
        raise Refused(f"{state.name} has no gateway or probe target to prove the backup carries traffic. "
                      "Set bond.ipv4.gateway, bond.ipv6.gateway or probes.targets, or pass --force to switch "
                      "without the proof")
    return active, backup


def probe_target(sup: Supervisor) -> tuple[str | None, str | None]:
    """The address to ask and our IPv4 sender address: an IPv4 probe target, else the IPv4 gateway (ARP);
    on a bond without either, an IPv6 probe target, else the IPv6 gateway (Neighbor Solicitation,
    from a link-local address made of the bond's MAC: no sender needed)."""
    bond = sup.config.bond
    for version, gateway in ((4, bond.ipv4.gateway), (6, bond.ipv6.gateway)):
        targets = [t for t in sup.config.probes.targets if ipaddress.ip_address(t).version == version]
        target = targets[0] if targets else gateway
        if target is not None:
            return ipaddress.ip_address(target).compressed, bond.ipv4.first_ip if version == 4 else None
    return None, None


class _ProbeStream:
    """ARP requests (IPv4) or Neighbor Solicitations (IPv6) for `target` out of the bond every
    STREAM_INTERVAL, and the replies counted: `answered` is set by the first reply once `switched`."""

    def __init__(self, sock: socket.socket, target: str, sender: str | None) -> None:
        self.sock, self.target, self.sender = sock, target, sender
        self.version = ipaddress.ip_address(target).version
        self.sent = self.received = 0  # counted from the switch on
        self.switched = False  # only an answer after the kernel switched proves the new slave
        self.answered = asyncio.Event()
        self._streamer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._on_reply)
        self._streamer = asyncio.create_task(self._stream())
        await asyncio.sleep(3 * STREAM_INTERVAL)  # the stream is flowing before the switch
        self.answered.clear()
        self.sent = self.received = 0

    def _on_reply(self) -> None:
        try:
            while True:
                frame = self.sock.recv(2048)
                if ANSWERED[self.version](frame, hw_address(self.sock)) == self.target:
                    self.received += 1
                    if self.switched:
                        self.answered.set()
        except BlockingIOError:
            pass

    async def _stream(self) -> None:
        while True:
            # Rebuilt each time: the bond's MAC follows the active slave under fail_over_mac=active.
            self.sock.send(request_frame(hw_address(self.sock), self.target, self.sender))
            self.sent += 1
            await asyncio.sleep(STREAM_INTERVAL)

    async def close(self) -> None:
        if self._streamer is not None:
            self._streamer.cancel()
            await asyncio.gather(self._streamer, return_exceptions=True)
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


async def _until_active(sup: Supervisor, bond: str, new_active: str, deadline: float) -> bool:
    """Read the bond until the kernel shows `new_active` active (True), or until `deadline` (False)."""
    while time.monotonic() < deadline:
        current = await read_bond(sup.ipr, bond)
        if current is not None and current.active_slave == new_active:
            return True
        await asyncio.sleep(0.002)
    return False


async def switch_and_prove(sup: Supervisor, new_active: str, reason: str, timeout: float = 5.0) -> SwitchReport:
    state = sup.state
    assert state is not None and state.active_slave is not None
    old_active = state.active_slave
    target, sender = probe_target(sup)
    stream = None
    if target is not None:
        version = ipaddress.ip_address(target).version
        stream = _ProbeStream(open_packet_socket(state.name, ETHERTYPE[version], FILTER[version]), target, sender)
    traffic_ms = None
    try:
        if stream is not None:
            await stream.start()
        t0 = time.monotonic()
        deadline = t0 + timeout
        pinned, sup.pinned = sup.pinned, new_active  # the policy must not fail back while we measure, or after
        try:
            await sup.switch(new_active, reason)
            if not await _until_active(sup, state.name, new_active, deadline):
                raise TimeoutError(f"the kernel did not make {new_active} active within {timeout:.0f} s")
        except BaseException:
            # Not pinned to a slave the operator's switch never reached: a later failover onto it
            # would never fail back.
            sup.pinned = pinned
            raise
        switch_ms = (time.monotonic() - t0) * 1000
        if stream is not None:
            stream.switched = True
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):  # not wait_for (3.11)
                    await stream.answered.wait()
                traffic_ms = (time.monotonic() - t0) * 1000
            except TimeoutError:
                pass
            await asyncio.sleep(0.1)  # late replies to requests sent just before the first answer
    finally:
        if stream is not None:
            await stream.close()
    await sup.refresh()
    after = sup.state
    sent, received = (stream.sent, stream.received) if stream is not None else (0, 0)
    return SwitchReport(old_active=old_active, new_active=new_active, switch_ms=round(switch_ms, 2),
                        traffic_ms=round(traffic_ms, 2) if traffic_ms is not None else None,
                        probes_sent=sent, probes_lost=max(0, sent - received), target=target,
                        mac_after=after.link.mac if after else "")


def report_dict(report: SwitchReport) -> dict[str, Any]:
    return asdict(report)
