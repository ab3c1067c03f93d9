"""Running on the standby, and the live-migration pattern, as events. Pure: observations and times in, events out.

Three inputs: a configured VF detached (RTM_DELLINK) or attached again with its MAC (any name), and
each reading of the bond (which member is active, which VFs are enslaved and their verdicts). Times
are `time.monotonic()` seconds, given by the caller.

- `on_standby` when the standby becomes active, with why: both VFs detached (the pattern of a live
  migration), both without carrier, or both paths dead; `off_standby` when a VF is active again, with
  the time spent on the standby.
- `migration_detached` when both VFs are detached within MIGRATION_WINDOW_S of each other;
  `migration_attached` once both are back and a VF carries the bond again, with the outage on VFs,
  the time on the standby and whether they came back under new names.
- `vfs_not_returned` (an error) when they are not all back `alert_after` seconds after the first
  detach: an aborted or failed migration; it names the MACs still missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vfbond.shared.events import Event, EventType
from vfbond.shared.status import StandbyState

# sriov_numvfs 0 takes ~2.6 s per PF in the lab; Nova detaches the ports one after the other.
MIGRATION_WINDOW_S = 30.0
WHY = {"detached": "both VFs detached (the pattern of a live migration)", "down": "both VFs without carrier",
       "unusable": "no VF usable (paths dead or not proven)"}


@dataclass
class _Migration:
    first_detach: float
    old_names: dict[str, str]
    standby_before: float  # seconds on the standby, all told, at the first detach
    left_vfs_at: float | None  # the bond stopped running on a VF
    back_on_vf_at: float | None = None
    new_names: dict[str, str] = field(default_factory=dict)
    alerted: bool = False


class StandbyTracker:
    def __init__(self, bond: str, vfs: dict[str, str], standby: str | None, alert_after: float) -> None:
        """`vfs`: each VF's label -> its MAC (or name), as the config gives it; `standby`: its label."""
        self.bond = bond
        self.vfs = vfs
        self.standby = standby
        self.alert_after = alert_after
        self.detached: dict[str, tuple[float, str]] = {}  # label -> (when, its name then)
        self.on_standby_since: float | None = None
        self.standby_total = 0.0  # seconds on the standby, all told
        self.migration: _Migration | None = None
        self._role: str | None = None  # "vf", "standby", None: what the last reading found active
        self._left_vfs_at: float | None = None  # the last reading found the bond off the VFs since then
        self._standby_mark = 0.0  # time on the standby, all told, at the first VF's detach

    # --- observations ---------------------------------------------------------------------------

    def vf_detached(self, label: str, name: str, now: float) -> list[Event]:
        if label in self.detached:
            return []
        self.detached[label] = (now, name)
        if len(self.detached) == 1:
            self._standby_mark = self._on_standby_total(now)
        if self.migration is not None or len(self.detached) < len(self.vfs):
            return []
        first = min(t for t, _ in self.detached.values())
        if now - first > MIGRATION_WINDOW_S:
            return []
        self.migration = _Migration(first, {lb: n for lb, (_, n) in self.detached.items()}, self._standby_mark,
                                    self._left_vfs_at)
        return [Event(EventType.MIGRATION_DETACHED, self.bond, reason=(
            f"both VFs detached within {now - first:.1f} s (a live migration?): "
            + (f"the standby {self.standby} carries the VM" if self.standby else "no standby configured")),
            details={"detached": self._names(self.migration.old_names), "window_s": round(now - first, 3)})]

    def vf_attached(self, label: str, name: str, now: float) -> None:
        """A VF seen with its MAC; again on each later message, so a rename by udev (the kernel's eth0 first,
        then the image's name) is the name it came back under."""
        self.detached.pop(label, None)
        if self.migration is not None:
            self.migration.new_names[label] = name

    def reading(self, active: str | None, role: str | None, enslaved: dict[str, str], now: float) -> list[Event]:
        """A reading of the bond: the active member's name and role, each enslaved VF's label -> verdict."""
        before, self._role = self._role, role
        events: list[Event] = []
        if before == "vf" and role != "vf":
            self._left_vfs_at = now
            if self.migration is not None and self.migration.left_vfs_at is None:
                self.migration.left_vfs_at = now
        elif role == "vf":
            self._left_vfs_at = None
            if self.migration is not None and self.migration.back_on_vf_at is None and before != "vf":
                self.migration.back_on_vf_at = now
        if role == "standby" and before != "standby":
            self.on_standby_since = now
            why = self._why(enslaved)
            events.append(Event(EventType.ON_STANDBY, self.bond, new_active=active, reason=f"{WHY[why]}: "
                                f"the standby {active} carries the traffic", details={"why": why, "vfs": enslaved}))
        elif before == "standby" and role != "standby" and self.on_standby_since is not None:
            spent = now - self.on_standby_since
            self.standby_total += spent
            self.on_standby_since = None
            if role == "vf":
                events.append(Event(EventType.OFF_STANDBY, self.bond, new_active=active, reason=(
                    f"{active} carries the traffic again after {spent:.1f} s on the standby"),
                    details={"on_standby_s": round(spent, 3)}))
        return events + self._attached(role, enslaved, now)

    def overdue(self, now: float) -> list[Event]:
        """The alert, once, when the VFs are not all back `alert_after` seconds after the first detach."""
        mig = self.migration
        if mig is None or mig.alerted or not self.detached or now < mig.first_detach + self.alert_after:
            return []
        mig.alerted = True
        missing = sorted(self.vfs[label] for label in self.detached)
        return [Event(EventType.VFS_NOT_RETURNED, self.bond, reason=(
            f"{', '.join(missing)} not back {now - mig.first_detach:.0f} s after they were detached (an aborted or "
            "failed migration?): check the instance's ports on the host (`openstack port show`, nova-compute log)"),
            details={"missing": missing, "after_s": round(now - mig.first_detach, 3)})]

    @property
    def alert_at(self) -> float | None:
        """When overdue() has something to say, if nothing changes before."""
        mig = self.migration
        return None if mig is None or mig.alerted else mig.first_detach + self.alert_after

    @property
    def not_returned(self) -> list[str]:
        """The MACs vfs_not_returned named that are still missing: what an alert on the metrics reads."""
        mig = self.migration
        return sorted(self.vfs[label] for label in self.detached) if mig is not None and mig.alerted else []

    @property
    def both_detached(self) -> bool:
        return len(self.detached) == len(self.vfs)

    def status(self, now: float) -> StandbyState:
        since = self.on_standby_since
        return {"on_standby": since is not None, "on_standby_s": None if since is None else round(now - since, 3),
                "on_standby_total_s": round(self._on_standby_total(now), 3),
                "detached": sorted(self.detached), "migration": self.migration is not None}

    def _on_standby_total(self, now: float) -> float:
        since = self.on_standby_since
        return self.standby_total + (now - since if since is not None else 0.0)

    # --- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _why(enslaved: dict[str, str]) -> str:
        """No VF left in the bond: detached (the kernel releases a VF as it goes), which the RTM_DELLINK
        may not have said yet."""
        if not enslaved:
            return "detached"
        return "down" if all(v in ("down", "missing") for v in enslaved.values()) else "unusable"

    def _attached(self, role: str | None, enslaved: dict[str, str], now: float) -> list[Event]:
        """Both VFs back in the bond: enslaved only once udev has named them (kernel/udev.py), so the
        names are the ones they came back under, not the kernel's eth0 of their first message."""
        mig = self.migration
        if mig is None or self.detached or role != "vf" or any(label not in enslaved for label in self.vfs):
            return []
        self.migration = None
        back = mig.back_on_vf_at if mig.back_on_vf_at is not None else now
        outage = back - mig.left_vfs_at if mig.left_vfs_at is not None else 0.0
        renamed = {label: {"old": mig.old_names.get(label, "?"), "new": new} for label, new in mig.new_names.items()
                   if mig.old_names.get(label) != new}
        return [Event(EventType.MIGRATION_ATTACHED, self.bond, reason=(
            f"both VFs back after {now - mig.first_detach:.1f} s"
            + (f", under new names ({', '.join(r['new'] for r in renamed.values())})" if renamed else "")
            + f"; {outage:.1f} s off the VFs"), details={
                "vfs_back_s": round(now - mig.first_detach, 3), "outage_on_vfs_s": round(outage, 3),
                "on_standby_s": round(self.standby_total - mig.standby_before, 3), "renamed": bool(renamed),
                "names": renamed})]

    def _names(self, by_label: dict[str, str]) -> dict[str, str]:
        return {label: f"{name} ({self.vfs[label]})" for label, name in sorted(by_label.items())}
