"""The nm backend's survey: the profiles NetworkManager has for the bond and each VF, adopted where
they exist (the seed's nmcli ones are never duplicated), and how they differ from the plan.

Read only: nm.py writes, activates and rolls back what this finds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vfbond.backends import nm_settings as ns
from vfbond.backends.base import BackendError, Progress
from vfbond.backends.nm_dbus import (
    DEV_UNMANAGED,
    I_CONNECTION,
    I_DEVICE,
    I_SETTINGS,
    SETTINGS_PATH,
    ActiveConnection,
    NMClient,
    NMError,
    unwrap,
)
from vfbond.bond_model import BondPlan

# Profile keys that only decide where and when a profile is activated: the running device needs
# neither a reapply nor a reactivation when only these change (adopting the seed's ports). Reapply
# itself would refuse them on 1.42 and 1.52 alike ("Can't reapply changes to 'connection.interface-name'").
NO_RUNTIME_EFFECT = {"connection.interface-name", "802-3-ethernet.mac-address", "connection.autoconnect",
                     "connection.autoconnect-slaves"}


@dataclass
class ProfileItem:
    """One profile vfbond wants, and what NM has for it."""

    profile: ns.Profile
    path: str | None = None  # the settings connection, None: to be added
    raw: dict[str, Any] | None = None  # GetSettings as NM sent it (variants)
    name: str = ""  # connection.id, for messages
    diffs: list[ns.Difference] = field(default_factory=list)
    device: str | None = None  # NM device object it runs on
    active: ActiveConnection | None = None
    written: bool = False

    @property
    def runs(self) -> bool:
        return self.active is not None and self.active.profile == self.path and self.active.up

    @property
    def runtime_diffs(self) -> list[ns.Difference]:
        return [d for d in self.diffs
                if not any(d.field == k or d.field.startswith(k + ".") for k in NO_RUNTIME_EFFECT)]



async def _connections(nm: NMClient) -> list[tuple[str, dict[str, Any], ns.Settings]]:
    (paths,) = await nm.call(SETTINGS_PATH, I_SETTINGS, "ListConnections")
    found = []
    for path in paths:
        try:
            (raw,) = await nm.call(path, I_CONNECTION, "GetSettings")
        except NMError as exc:
            if exc.short in ("UnknownObject", "UnknownMethod"):
                continue  # deleted meanwhile
            raise
        found.append((path, raw, unwrap(raw)))
    return found

async def survey(nm: NMClient, plan: BondPlan, progress: Progress, port_prio: bool = False) -> list[ProfileItem]:
    """The bond's and ports' profiles as NM has them, adopted where they exist; differences reported.
    `port_prio`: this NM has bond-port.prio (the standby's port is given the lowest)."""
    all_conns = await _connections(nm)
    items = [ProfileItem(p) for p in ns.profiles(plan, port_prio)]
    bond, ports = items[0], items[1:]
    by_path = {path: (raw, plain) for path, raw, plain in all_conns}

    bond.device = await nm.device(plan.name)
    bond.active = await nm.active(bond.device)
    active_uuid = None
    if bond.active and bond.active.profile in by_path:
        active_uuid = ns.conn(by_path[bond.active.profile][1], "uuid")
    candidates = [(p, s) for p, _, s in all_conns if ns.is_bond_for(s, plan.name)]
    chosen = ns.choose(candidates, active_uuid)
    _adopt(bond, chosen, by_path, (), candidates, progress)
    aliases = ns.bond_aliases(plan.name, by_path[bond.path][1] if bond.path else None)

    taken = set()
    for item in ports:
        ifname, mac = item.profile.device, item.profile.mac
        item.device = await nm.device(ifname)
        if item.device is None:
            raise BackendError(f"nm: NetworkManager has no device {ifname} (VF {item.profile.role}, {mac}). "
                               f"Fix: check `nmcli device status`; udev rules or NM's unmanaged-devices may "
                               f"hide it")
        state = await nm.get(item.device, I_DEVICE, "State")
        if state == DEV_UNMANAGED:
            raise BackendError(f"nm: NetworkManager does not manage {ifname}. Fix: `nmcli device set {ifname} "
                               f"managed yes` and remove it from unmanaged-devices in NetworkManager.conf")
        item.active = await nm.active(item.device)
        dev_uuid = None
        if item.active and item.active.profile in by_path:
            dev_uuid = ns.conn(by_path[item.active.profile][1], "uuid")
        mine = [(p, s) for p, _, s in all_conns if p not in taken and ns.conn(s, "type") == ns.WIRED
                and ns.is_port_of(s, aliases) and ns.matches_vf(s, mac, ifname)]
        chosen = ns.choose(mine, dev_uuid)
        _adopt(item, chosen, by_path, aliases, mine, progress)
        if item.path:
            taken.add(item.path)
        others = [ns.conn(s, "id") for p, _, s in all_conns
                  if ns.conn(s, "type") == ns.WIRED and not ns.is_port_of(s, aliases)
                  and ns.matches_vf(s, mac, ifname) and ns.normalise("connection", "autoconnect",
                                                                      ns.conn(s, "autoconnect"))]
        if others:
            progress(f"nm: {', '.join(repr(o) for o in others)} also match {ifname} and may take it at boot; "
                     f"left as they are (delete them with `nmcli connection delete <name>` if unused)")
    strays = [ns.conn(s, "id") for p, _, s in all_conns
              if ns.is_port_of(s, aliases) and p not in taken]
    if strays:
        progress(f"nm: port profiles of {plan.name} matching neither VF: {', '.join(map(repr, strays))}; "
                 f"left as they are")
    return items

def _adopt(item: ProfileItem, chosen: tuple[str, ns.Settings] | None,
           by_path: dict[str, tuple[dict[str, Any], ns.Settings]], aliases: Any,
           candidates: list[tuple[str, ns.Settings]], progress: Progress) -> None:
    what = f"{item.profile.device}" if item.profile.is_bond else f"port {item.profile.role} ({item.profile.device})"
    if chosen is None:
        item.name = item.profile.id
        return
    item.path = chosen[0]
    item.raw, plain = by_path[item.path]
    item.name = ns.conn(plain, "id") or item.path
    item.diffs = ns.differences(item.profile, plain, aliases)
    dupes = [ns.conn(s, "id") for p, s in candidates if p != item.path]
    if dupes:
        progress(f"nm: several profiles for {what}; using {item.name!r}, leaving "
                 f"{', '.join(map(repr, dupes))} as they are")
    if item.diffs:
        progress(f"nm: profile {item.name!r} for {what} differs: " + "; ".join(map(str, item.diffs)))

