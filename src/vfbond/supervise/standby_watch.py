"""The supervisor's side of the standby: feeds judge/standby.py the VFs' detaches and returns and each
reading of the bond, emits what it says, and wakes it for the VFs-not-returned alert."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from vfbond.config import Config
from vfbond.judge.standby import StandbyTracker
from vfbond.kernel.bond_state import UPPER_KINDS, BondState, SlaveState
from vfbond.shared.events import Event
from vfbond.shared.status import StandbyState
from vfbond.watch.links import LinkEvent


class StandbyWatch:
    def __init__(self, config: Config, emit: Callable[[Event], None]) -> None:
        self.emit = emit
        self._timer: asyncio.TimerHandle | None = None
        self._labels: dict[int, str] = {}  # ifindex -> VF label, from the readings: a DELLINK may carry no MAC
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """A reloaded config: keep what is known when the members stay the same."""
        bond = config.bond
        vfs = {s.label: s.mac or s.name or s.label for s in bond.slaves}
        standby = bond.standby.label if bond.standby else None
        old = getattr(self, "tracker", None)
        if old is not None and (old.vfs, old.standby) == (vfs, standby):
            old.alert_after = config.failover.vf_return_alert_s
            return
        self.tracker = StandbyTracker(bond.name, vfs, standby, config.failover.vf_return_alert_s)

    def on_link(self, ev: LinkEvent, label: str | None) -> None:
        """A link event on a configured VF (`label`): detached, or back with its MAC."""
        if ev.kind in UPPER_KINDS:
            return  # the bond carries the active VF's MAC (fail_over_mac=active): its events are not that VF's
        label = label or self._labels.get(ev.index)
        if label is None or label not in self.tracker.vfs:
            return
        if ev.gone:
            self._emit(self.tracker.vf_detached(label, ev.name, ev.at))
        elif label in self.tracker.detached or self.tracker.migration is not None:
            self.tracker.vf_attached(label, ev.name, ev.at)

    def on_read(self, state: BondState | None, label_of: Callable[[SlaveState], str | None],
                verdicts: Mapping[str, str]) -> None:
        if state is None:
            return
        labels = {s.name: label_of(s) for s in state.slaves}
        self._labels.update({s.link.index: lb for s in state.slaves if (lb := labels[s.name]) in self.tracker.vfs})
        active = state.active_slave
        role = None
        if active is not None:
            role = "standby" if labels.get(active) == self.tracker.standby else "vf"
        enslaved = {lb: verdicts.get(name, "unknown") for name, lb in labels.items() if lb in self.tracker.vfs}
        self._emit(self.tracker.reading(active, role, enslaved, time.monotonic()))

    def status(self) -> StandbyState:
        return self.tracker.status(time.monotonic())

    def not_returned(self) -> list[str]:
        return self.tracker.not_returned

    def _emit(self, events: list[Event]) -> None:
        for event in events:
            self.emit(event)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        at = self.tracker.alert_at
        if at is not None:
            delay = max(0.0, at - time.monotonic()) + 0.01
            self._timer = asyncio.get_running_loop().call_later(
                delay, lambda: self._emit(self.tracker.overdue(time.monotonic())))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
