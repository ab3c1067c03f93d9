"""Per-slave gateway probes: ARP requests and Neighbor Solicitations sent out of the slave itself.

A VF whose link is forced up keeps carrier when the path behind it dies, and the bonding driver
cannot run ARP monitoring next to MII monitoring, so vfbondd checks each slave's path itself.
Frames leave through a packet socket bound to the slave (never the bond or the routing table),
so the backup slave is tested too, with its own MAC as source: valid under fail_over_mac=active
and accepted by the switch's spoof-check. Replies are matched on the same slave's socket.

Cost: the sockets are opened once per slave and read with loop.add_reader; the request frames
are built once and re-sent as bytes; only replies to this slave's MAC pass the kernel
filter and get parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
from collections.abc import Callable

from vfbond.config import ProbeConfig
from vfbond.judge.health import ProbeResult, normalize_target
from vfbond.watch import arp, ndisc
from vfbond.watch.probe_socket import hw_address, open_packet_socket

log = logging.getLogger(__name__)

# What a missing interface looks like to socket(), bind(), send() and recv().
GONE = (errno.ENODEV, errno.ENXIO, errno.ENETDOWN)

ETHERTYPE = {4: arp.ETH_P_ARP, 6: ndisc.ETH_P_IPV6}
FILTER = {4: arp.FILTER, 6: ndisc.FILTER}
ANSWERED = {4: arp.replier, 6: ndisc.advertiser}


def request_frame(mac: str, target: str, sender_ipv4: str | None) -> bytes:
    """The ARP request (IPv4 target) or Neighbor Solicitation (IPv6) for `target` from `mac`."""
    if ipaddress.ip_address(target).version == 4:
        return arp.request(mac, target, sender_ipv4)
    return ndisc.solicitation(mac, target)


async def ask(ifname: str, target: str, sender_ipv4: str | None, timeout: float) -> float | None:
    """Send one probe for `target` out of `ifname` now; the seconds until its reply, None without one.

    Raises OSError when the interface cannot be probed (gone, no CAP_NET_RAW).
    """
    version = ipaddress.ip_address(target).version
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[float] = loop.create_future()
    with open_packet_socket(ifname, ETHERTYPE[version], FILTER[version]) as sock:
        mac = hw_address(sock)

        def on_readable() -> None:
            while not answered.done():
                try:
                    frame = sock.recv(4096)
                except BlockingIOError:
                    return
                if ANSWERED[version](frame, mac) == target:
                    answered.set_result(loop.time())

        loop.add_reader(sock.fileno(), on_readable)
        try:
            sent = loop.time()
            sock.send(request_frame(mac, target, sender_ipv4))
            # asyncio.timeout, not wait_for: 3.11's wait_for drops a cancel that meets the reply in one
            # step of the loop, and a prober being stopped would then probe on forever.
            async with asyncio.timeout(timeout):
                return await answered - sent
        except TimeoutError:
            return None
        finally:
            loop.remove_reader(sock.fileno())


class SlaveProber:
    """Probes every target out of one slave each interval and reports each probe's result.

    `on_result` gets one ProbeResult per target per interval: ok with the RTT as soon as the
    reply arrives, or not ok once `timeout_ms` has passed. `on_presence(slave, present)` is
    called when the interface disappears (sockets closed, no results while it is gone) and when
    it is found again: by its last name on every interval, or under a new name via reopen().
    """

    def __init__(self, slave: str, ifname: str, config: ProbeConfig,
                 on_result: Callable[[ProbeResult], None], on_presence: Callable[[str, bool], None],
                 sender_ipv4: str | None = None) -> None:
        if not config.targets:
            raise ValueError("a prober needs at least one target")
        self.slave = slave
        self.ifname = ifname
        self._targets: dict[str, int] = {normalize_target(t): ipaddress.ip_address(normalize_target(t)).version
                         for t in config.targets}
        self._interval = config.interval_ms / 1000
        self._timeout = config.timeout_ms / 1000
        self._on_result = on_result
        self._on_presence = on_presence
        self._sender_ipv4 = sender_ipv4
        self._socks: dict[int, socket.socket] = {}  # IP version -> packet socket
        self._frames: dict[str, bytes] = {}  # target -> request frame, built once per open
        self._pending: dict[str, float] = {}  # target -> loop time its request left
        self._expiry: asyncio.TimerHandle | None = None  # fails what is still pending at the timeout
        self._ifindex = 0
        self._mac = ""
        self._present: bool | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def present(self) -> bool:
        return self._present is True

    @property
    def mac(self) -> str:
        return self._mac

    def start(self) -> None:
        """Open the sockets and start probing; call from the running loop.

        Opening here, not in the task, lets a real failure (no CAP_NET_RAW) reach the caller;
        a slave that is absent at start is only reported missing.
        """
        self._open()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"probe-{self.slave}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._close()

    def reopen(self, ifname: str | None = None) -> None:
        """Rebind now: to `ifname` when the VF came back under another name, or to the same name
        (e.g. after its MAC changed, since the frames carry the MAC read at open)."""
        self._close()
        if ifname:
            self.ifname = ifname
        self._open()

    def set_sender_ipv4(self, address: str | None) -> None:
        """The ARP sender IP: the bond's address on the active slave only, None on a backup.

        A backup slave announcing the bond's IP with its own MAC would re-point the gateway's
        (and every neighbour's) ARP entry for the bond at the backup, which drops the traffic.
        """
        self._sender_ipv4 = address
        if self._socks:
            self._build_frames()

    # The probing loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            if not self._socks:
                self._retry_open()
            self._send_all(loop)
            # After a stall, skip the missed rounds instead of sending a burst.
            next_at = max(next_at + self._interval, loop.time())
            await asyncio.sleep(next_at - loop.time())

    def _send_all(self, loop: asyncio.AbstractEventLoop) -> None:
        self._expire()  # timeout == interval: the last round's timer may not have fired yet
        for target, frame in self._frames.items():
            sock = self._socks.get(self._targets[target])
            if sock is None:  # closed during this loop: the slave vanished
                return
            self._pending[target] = loop.time()
            try:
                sock.send(frame)
            except OSError as exc:  # link down or queue full: the probe simply goes unanswered
                log.debug("%s: probe to %s not sent: %s", self.slave, target, exc)
                if exc.errno in GONE and self._vanished():
                    return
        if self._pending:
            self._expiry = loop.call_later(self._timeout, self._expire)

    def _expire(self) -> None:
        self._cancel_expiry()
        for target in self._pending:
            self._on_result(ProbeResult(self.slave, target, False))
        self._pending.clear()

    def _cancel_expiry(self) -> None:
        # A cancelled timer never wakes the loop: when every reply is in, the round costs no wakeup.
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _on_readable(self, version: int, sock: socket.socket) -> None:
        now = asyncio.get_running_loop().time()
        while True:
            try:
                frame = sock.recv(4096)
            except BlockingIOError:
                return
            except OSError as exc:  # ENETDOWN: the slave went down, or away
                if exc.errno in GONE:
                    self._vanished()
                    return
                raise
            target = ANSWERED[version](frame, self._mac)
            sent = self._pending.pop(target, None) if target else None
            if target and sent is not None:  # late or unsolicited replies count for nothing
                if not self._pending:
                    self._cancel_expiry()
                self._on_result(ProbeResult(self.slave, target, True, now - sent))

    # Opening, closing, presence --------------------------------------------------------------

    def _open(self) -> None:
        """Open one socket per address family in use, or report the slave missing."""
        socks: dict[int, socket.socket] = {}
        try:
            index = socket.if_nametoindex(self.ifname)
            for version in sorted(set(self._targets.values())):
                socks[version] = open_packet_socket(self.ifname, ETHERTYPE[version], FILTER[version])
        except OSError as exc:
            for sock in socks.values():
                sock.close()
            # if_nametoindex gives no errno; bind gives ENODEV.
            if exc.errno is not None and exc.errno not in GONE:
                raise
            self._set_present(False)
            return
        self._socks, self._ifindex = socks, index
        self._mac = hw_address(next(iter(socks.values())))
        self._build_frames()
        loop = asyncio.get_running_loop()
        for version, sock in socks.items():
            loop.add_reader(sock.fileno(), self._on_readable, version, sock)
        self._set_present(True)

    def _retry_open(self) -> None:
        try:
            self._open()
        except OSError as exc:  # keep the loop alive: the next interval tries again
            log.warning("%s: cannot open %s for probing: %s", self.slave, self.ifname, exc)

    def _build_frames(self) -> None:
        self._frames = {target: request_frame(self._mac, target, self._sender_ipv4) for target in self._targets}

    def _close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._socks.values():
            loop.remove_reader(sock.fileno())
            sock.close()
        self._socks.clear()
        self._frames.clear()
        self._cancel_expiry()
        self._pending.clear()  # unprobed, not failed: the slave is reported missing instead

    def _vanished(self) -> bool:
        """After a socket error: close and report missing if our interface is gone.

        Checked by index, which the kernel does not reuse, so a renamed VF is followed (and its new
        name kept for reopening) while a deleted one is recognised even if its name was reused.
        """
        try:
            self.ifname = socket.if_indextoname(self._ifindex)
        except OSError:
            self._close()
            self._set_present(False)
            return True
        return False

    def _set_present(self, present: bool) -> None:
        if present == self._present:
            return
        self._present = present
        if present:
            log.info("%s: probing %s (%s) from %s", self.slave, ", ".join(self._targets), self.ifname, self._mac)
        else:
            log.warning("%s: %s is gone; not probing until it returns", self.slave, self.ifname)
        self._on_presence(self.slave, present)
