"""What only real VFs show: their drivers' kernel messages, a MAC locked by the host, PF resets.

One object beside the supervisor: link events and /dev/kmsg records in, events out through the
reporter's `emit` (history, flap limiting, sinks), and a status dict for `bondctl status` and
`doctor`. Its two ties to the supervisor are given to its constructor: a VF driver's "Link is Down"
line goes to the fast path (`on_link_down`, earlier than netlink's carrier event), and the MAC-lock
probe and the bounce take the executor's `lock` (they act on the VFs). No fault of its own stops
the daemon: a kernel log that cannot be read, a line that breaks a rule, a probe that fails are
logged, shown in status, and the watch goes on.

daemon/lifecycle.py builds it on the daemon's netlink socket, starts it after the first refresh,
hands it each link event after the supervisor (`on_link`), puts `status()` under "vf" and closes it
at stop; daemon/running.py's reload swap calls `reconfigure`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from vfbond.config import Config
from vfbond.kernel import actions as kernel
from vfbond.kernel.bond_state import SYS_NET, read_bond
from vfbond.kernel.rtnl import Rtnl
from vfbond.shared.events import Event, EventType
from vfbond.shared.status import KernelLine, VfSlave, VfStatus, WaitingVf
from vfbond.supervise import maclock
from vfbond.supervise.pfreset import PfResetMonitor, PfResetTracker
from vfbond.watch.kernel_events import KernelEvents
from vfbond.watch.kmsg import KmsgRecord, KmsgWatcher
from vfbond.watch.kmsg_rules import KernelObservation, Kind, classify
from vfbond.watch.links import LinkEvent

log = logging.getLogger("vfbond")

SYS_PCI = Path("/sys/bus/pci/devices")
KERNEL_FACILITY = 0  # userspace can write to /dev/kmsg too; only the kernel's own lines count
RECENT_LINES = 5  # kernel lines kept per VF for status
# The MAC-lock probe waits for the bond to settle (a start's convergence, NetworkManager activating a
# port, a returned VF being enslaved) before it touches a backup's MAC.
PROBE_SETTLE_S = 5.0


class VfWatch:
    def __init__(self, config: Config, ipr: Rtnl, emit: Callable[[Event], None],
                 kmsg: KmsgWatcher | None = None, sys_net: Path = SYS_NET, sys_pci: Path = SYS_PCI,
                 probe_settle: float = PROBE_SETTLE_S,
                 on_link_down: Callable[[str, float, str], None] | None = None,
                 lock: asyncio.Lock | None = None) -> None:
        self.config = config
        self.ipr = ipr
        self.emit = emit
        self.on_link_down = on_link_down  # the driver's "Link is Down": earlier than netlink's carrier event
        self.lock = lock or asyncio.Lock()  # the executor's: probes and bounces are actions on the VFs
        self.kmsg = kmsg or KmsgWatcher()
        self.kmsg_error: str | None = None
        self._sys_net = sys_net
        self._sys_pci = sys_pci
        self.kernel_events = KernelEvents(config.bond.name)
        self.pf = PfResetMonitor(PfResetTracker(config.bond.name, config.failover.bounce_after_s), emit,
                                 self._bounce)
        self.locks: dict[int, tuple[str, maclock.LockVerdict]] = {}  # ifindex -> (label, verdict)
        self.lines: dict[str, deque[KernelLine]] = {}  # VF (name or PCI address) -> its recent lines
        # Where each configured VF was last seen: a VF re-created there carries a random MAC until the
        # host sets its own again, and only its PCI address says which VF it is meanwhile.
        self.homes: dict[str, str] = {}  # label -> PCI address
        self.waiting: dict[str, WaitingVf] = {}  # label -> {pci, since, netdev, text}
        self._tasks: set[asyncio.Task[None]] = set()
        self._probing: asyncio.Task[None] | None = None
        self._probe_settle = probe_settle

    @property
    def bond(self) -> str:
        return self.config.bond.name

    def reconfigure(self, config: Config) -> None:
        self.config = config
        self.kernel_events.bond = self.pf.tracker.bond = config.bond.name
        self.pf.tracker.bounce_after = config.failover.bounce_after_s
        self._learn_homes()

    async def start(self) -> None:
        self._learn_homes()
        try:
            self.kmsg.start()
        except OSError as exc:  # no /dev/kmsg (a container): everything else still works
            self.kmsg_error = f"{exc.filename or '/dev/kmsg'}: {exc.strerror or exc}"
            log.warning("kernel messages not followed: %s", self.kmsg_error)
        else:
            self._spawn(self._follow())
        self._probe_soon()

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _follow(self) -> None:
        async for record in self.kmsg.records():
            try:
                self.on_kernel(record)
            except Exception:  # one line that trips a rule must not end the watch
                log.exception("kernel line not handled: %r", record.text)

    # -- intake -----------------------------------------------------------------------------------

    def on_kernel(self, record: KmsgRecord) -> None:
        if record.facility != KERNEL_FACILITY:
            return
        obs = classify(record.text, bond=self.bond, netdev_of=self._netdev_of, is_slave=self._is_slave,
                       at=record.at)
        if obs is None:
            return
        self._remember(obs)
        if obs.kind is Kind.RANDOM_MAC and obs.pci:
            self._wait_for_mac(obs)
        if obs.kind is Kind.LINK_DOWN and obs.slave and self.on_link_down is not None:
            self.on_link_down(obs.slave, obs.at, obs.text)
        if (event := self.kernel_events.event(obs)) is not None:
            self.emit(event)
        self.pf.kernel(obs)
        if obs.slave and (verdict := maclock.verdict_of_kernel(obs)) and (index := self._ifindex(obs.slave)):
            self.locks[index] = (self._label(obs.slave, self._mac(obs.slave)), verdict)

    def on_link(self, ev: object) -> None:
        """Every link observation of the link watcher; only the configured VFs' count. Never raises: it runs
        in the daemon's link-watch loop, which must go on whatever happens here."""
        try:
            self._on_link(ev)
        except Exception:
            log.exception("link event not handled by the VF watch: %r", ev)

    def _on_link(self, ev: object) -> None:
        if not isinstance(ev, LinkEvent) or not self._configured(ev.name, ev.mac):
            return
        if ev.gone:
            self.pf.gone(ev.name)
            self.locks.pop(ev.index, None)  # a re-created VF is a new device: probe it again
            return
        label = self._label(ev.name, ev.mac)
        if pci := self._pci_of(ev.name):
            self.homes[label] = pci
        self.waiting.pop(label, None)  # back with its own MAC: found and enslaved as usual
        self.pf.carrier(ev.name, ev.carrier, ev.at)
        if ev.carrier and ev.index not in self.locks:
            self._probe_soon()

    # -- MAC lock ---------------------------------------------------------------------------------

    def _probe_soon(self) -> None:
        if self._probing is None or self._probing.done():
            self._probing = self._spawn(self._probe_backups())

    async def _probe_backups(self) -> None:
        """Probe every backup slave not probed yet, while the active slave carries the traffic.

        The trial MAC's RTM_NEWLINK makes the supervisor re-read the bond; the read waits for the lock
        held here, so it sees the VF's own MAC back, not the trial one (no false mac_changed)."""
        await asyncio.sleep(self._probe_settle)
        async with self.lock:
            await self._probe_backups_locked()

    async def _probe_backups_locked(self) -> None:
        try:
            state = await read_bond(self.ipr, self.bond)
            active = state.slave(state.active_slave) if state and state.active_slave else None
            if state is None or active is None or active.mii_status != "up" or not active.link.carrier:
                return  # a failover may be about to pick the backup: leave its MAC alone
            for s in state.slaves:
                if s is active or s.link.index in self.locks or not s.link.carrier:
                    continue
                verdict = await maclock.probe(self.ipr, s.name, s.link.index, s.link.mac)
                self.locks[s.link.index] = (self._label(s.name, s.perm_mac or s.link.mac), verdict)
                if verdict.restore_error:
                    self.emit(Event(EventType.WARNING, self.bond, slave=s.name, reason=verdict.restore_error))
        except (NetlinkError, OSError) as exc:
            log.warning("MAC-lock probe not done: %s", exc)

    # -- PF reset ---------------------------------------------------------------------------------

    async def _bounce(self, slave: str) -> None:
        async with self.lock:
            await kernel.bounce(self.ipr, slave)

    # -- status -----------------------------------------------------------------------------------

    def status(self) -> VfStatus:
        slaves: dict[str, VfSlave] = {}
        for index, (label, verdict) in self.locks.items():
            name = self._name_of(index) or label
            slaves.setdefault(name, {})["mac_lock"] = {**verdict.to_dict(), "label": label,
                                                       "text": verdict.text(label)}
        for name, outage in self.pf.tracker.outages(time.monotonic()).items():
            slaves.setdefault(name, {})["outage"] = {**outage, "bounce_after_s": self.pf.tracker.bounce_after}
        for subject, lines in self.lines.items():
            slaves.setdefault(subject, {})["kernel"] = list(lines)
        return {"slaves": slaves, "waiting": self.waiting, "kmsg": {**self.kmsg.stats(), "error": self.kmsg_error}}

    def _learn_homes(self) -> None:
        """Where the configured VFs live now. A VF that sent no link event since vfbondd started (all
        of them, on a quiet bond) may be re-created next: its address must be known already."""
        try:
            names = os.listdir(self._sys_net)
        except OSError:
            return
        for name in names:
            mac = self._mac(name)
            if self._configured(name, mac) and (pci := self._pci_of(name)):
                self.homes[self._label(name, mac)] = pci

    def _wait_for_mac(self, obs: KernelObservation) -> None:
        label = next((label for label, pci in self.homes.items() if pci == obs.pci), None)
        spec = next((s for s in self.config.bond.slaves if s.label == label), None)
        if spec is None:
            return
        want = spec.mac or "its MAC"
        self.waiting[spec.label] = {
            "pci": obs.pci, "since": time.time(), "netdev": obs.slave,
            "text": f"{spec.label}: back at {obs.pci}{f' as {obs.slave}' if obs.slave else ''} with a random MAC; "
                    f"waiting for the host to set {want} (vfbondd enslaves it then)"}

    def _remember(self, obs: KernelObservation) -> None:
        lines = self.lines.setdefault(obs.subject, deque(maxlen=RECENT_LINES))
        lines.append({"time": time.time(), "kind": obs.kind.value, "line": obs.text, "hint": obs.hint})

    # -- sysfs lookups (a kernel line names a PCI address or a netdev; rare, so read when needed) ---

    def _netdev_of(self, pci: str) -> str | None:
        try:
            return next(iter(sorted(os.listdir(self._sys_pci / pci / "net"))), None)
        except OSError:
            return None

    def _pci_of(self, name: str) -> str | None:
        try:
            return os.path.basename(os.readlink(self._sys_net / name / "device"))
        except OSError:
            return None

    def _read(self, name: str, attr: str) -> str | None:
        try:
            return (self._sys_net / name / attr).read_text().strip()
        except OSError:
            return None

    def _mac(self, name: str) -> str | None:
        return self._read(name, "address")

    def _ifindex(self, name: str) -> int | None:
        index = self._read(name, "ifindex")
        return int(index) if index and index.isdigit() else None

    def _name_of(self, index: int) -> str | None:
        try:
            return next((n for n in os.listdir(self._sys_net) if self._ifindex(n) == index), None)
        except OSError:
            return None

    def _configured(self, name: str, *macs: str | None) -> bool:
        return any(spec.matches(name, *macs) for spec in self.config.bond.slaves)

    def _is_slave(self, name: str) -> bool:
        return self._configured(name, self._mac(name))

    def _label(self, name: str, mac: str | None) -> str:
        return next((s.label for s in self.config.bond.slaves if s.matches(name, mac)), name)

    async def close(self) -> None:
        self.kmsg.close()
        await self.pf.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
