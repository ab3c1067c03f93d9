"""NetworkManager profiles for a BondPlan: build them, compare them with NM's, merge into NM's (pure).

Settings here are plain Python (`{"connection": {"type": "bond", ...}, ...}`), as NM's GetSettings
returns them once the D-Bus variants are unwrapped. The D-Bus side (backends/nm_dbus.py) wraps values
with `SIGNATURES` on the way out. A desired value of `None` means "must not be set" (it is removed
when merging, and an existing value is a difference).

Ownership: a profile lists only the keys vfbond decides. Everything else an operator put in an
adopted profile (id, uuid, dns, routes, zone, ...) is kept as it is.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from vfbond.bond_model import BondPlan, SlaveBinding
from vfbond.kernel.slave_prio import STANDBY_PRIO

Settings = dict[str, dict[str, Any]]
Wrap = Callable[[str, str, Any], Any]

WIRED = "802-3-ethernet"

# D-Bus signature of every key vfbond writes.
SIGNATURES: dict[tuple[str, str], str] = {
    ("connection", "id"): "s",
    ("connection", "uuid"): "s",
    ("connection", "type"): "s",
    ("connection", "interface-name"): "s",
    ("connection", "autoconnect"): "b",
    ("connection", "autoconnect-slaves"): "i",
    ("connection", "master"): "s",
    ("connection", "slave-type"): "s",
    ("bond", "options"): "a{ss}",
    ("ipv4", "method"): "s",
    ("ipv4", "address-data"): "aa{sv}",
    ("ipv4", "gateway"): "s",
    ("ipv6", "method"): "s",
    ("ipv6", "address-data"): "aa{sv}",
    ("ipv6", "gateway"): "s",
    (WIRED, "mac-address"): "ay",
    (WIRED, "mtu"): "u",
    ("bond-port", "prio"): "i",
}

# What NM means when GetSettings leaves a key out (it omits keys at their default).
DEFAULTS: dict[tuple[str, str], Any] = {
    ("connection", "autoconnect"): True,
    ("connection", "autoconnect-slaves"): -1,
    (WIRED, "mtu"): 0,
    ("ipv4", "address-data"): [],
    ("ipv6", "address-data"): [],
    ("bond-port", "prio"): 0,
}

# Keys NM also returns that would override or contradict the ones vfbond writes, dropped when merging:
# the legacy `addresses` wins over `address-data` when both are sent. NM 1.46 renamed master, slave-type
# and autoconnect-slaves to controller, port-type and autoconnect-ports. Seen in the lab: 1.52 writes
# only the new names into its keyfiles, yet its GetSettings still sends only the old ones (as 1.42 does,
# also for profiles RHEL 9's nmcli made with `controller`), and it accepts both. vfbond writes the old
# names, which both versions take; it reads and drops the new ones in case a later NM sends them.
SHADOWED_BY: dict[tuple[str, str], tuple[str, ...]] = {
    ("ipv4", "address-data"): ("addresses",),
    ("ipv6", "address-data"): ("addresses",),
    ("connection", "master"): ("controller",),
    ("connection", "slave-type"): ("port-type",),
    ("connection", "autoconnect-slaves"): ("autoconnect-ports",),
}
ALIASES = {("connection", "controller"): "master", ("connection", "port-type"): "slave-type",
           ("connection", "autoconnect-ports"): "autoconnect-slaves"}

# Bonding options: kernel defaults when an option is left out, and the numeric spellings the seed's
# nmcli lines use ("fail_over_mac=1").
BOND_DEFAULTS = {
    "mode": "balance-rr", "miimon": "100", "updelay": "0", "downdelay": "0", "fail_over_mac": "none",
    "primary_reselect": "always", "num_grat_arp": "1", "arp_interval": "0",
}
BOND_ENUMS = {
    "mode": ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb",
             "balance-alb"),
    "fail_over_mac": ("none", "active", "follow"),
    "primary_reselect": ("always", "better", "failure"),
}


@dataclass(frozen=True)
class Profile:
    """One NM connection profile vfbond wants: the bond, or the port for one VF."""

    role: str  # "bond", or the slave label ("sriov0")
    id: str  # connection.id given to a new profile (an adopted one keeps its own)
    device: str  # the interface it runs on now (bond0, or the VF's current name)
    settings: Settings  # the keys vfbond owns; None = must be absent
    mac: str | None = None  # ports: the VF's own MAC

    @property
    def is_bond(self) -> bool:
        return self.role == "bond"


@dataclass(frozen=True)
class Difference:
    field: str  # "bond.options.miimon", "connection.interface-name"
    current: Any
    desired: Any

    def __str__(self) -> str:
        def show(v: Any) -> str:
            return "(unset)" if v is None else repr(v)
        return f"{self.field}: {show(self.current)} -> {show(self.desired)}"


# --- building -----------------------------------------------------------------------------------

def _ip_settings(addresses: Iterable[str], gateway: str | None, version: int) -> dict[str, Any]:
    data = []
    for cidr in addresses:
        iface = ipaddress.ip_interface(cidr)
        data.append({"address": str(iface.ip), "prefix": iface.network.prefixlen})
    if not data:
        # No address for this family: NM leaves it off (no DHCP/SLAAC surprises, no stray addresses
        # that the kernel read-back would count as a difference).
        return {"method": "disabled", "address-data": [], "gateway": None}
    return {"method": "manual", "address-data": data, "gateway": gateway}


def bond_profile(plan: BondPlan) -> Profile:
    settings: Settings = {
        "connection": {"type": "bond", "interface-name": plan.name, "autoconnect": True,
                       # activating the bond also (re)activates its ports
                       "autoconnect-slaves": 1},
        "bond": {"options": dict(plan.options())},
        "ipv4": _ip_settings(plan.ipv4.addresses, plan.ipv4.gateway, 4),
        "ipv6": _ip_settings(plan.ipv6.addresses, plan.ipv6.gateway, 6),
        # fail_over_mac=active: the bond takes the active VF's MAC; a cloned MAC would fight it.
        WIRED: {"cloned-mac-address": None, "assigned-mac-address": None},
    }
    if plan.mtu:
        settings[WIRED]["mtu"] = plan.mtu
    return Profile("bond", plan.name, plan.name, settings)


# NetworkManager writes a port's bond-port.prio into the kernel's per-slave priority (IFLA_BOND_SLAVE_PRIO)
# from 1.44 on; an older one does not know the key (before 1.34 not even the bond-port setting), so it is
# written only where the running NM has it.
PORT_PRIO_SINCE = (1, 44)


def has_port_prio(version: str | None) -> bool:
    """Whether NetworkManager `version` (its D-Bus Version property, "1.46.0-27.el9") has bond-port.prio."""
    found = re.match(r"(\d+)\.(\d+)", version or "")
    return found is not None and (int(found[1]), int(found[2])) >= PORT_PRIO_SINCE


def port_profile(plan: BondPlan, binding: SlaveBinding, port_prio: bool = False) -> Profile:
    """`port_prio`: the running NM has bond-port.prio; the standby then gets the lowest, the VFs keep NM's
    default (the key is not theirs to own), as the netlink backend sets the kernel's."""
    settings: Settings = {
        # Matched by the VF's MAC, not its name: a VF that is hot-unplugged and comes back as
        # another interface is picked up again by NM itself.
        "connection": {"type": WIRED, "master": plan.name, "slave-type": "bond",
                       "interface-name": None, "autoconnect": True},
        # Each VF keeps the MAC the host gave it (spoof-check drops frames with any other).
        WIRED: {"mac-address": binding.mac, "cloned-mac-address": None, "assigned-mac-address": None},
    }
    if port_prio and binding.role == "standby":
        settings["bond-port"] = {"prio": STANDBY_PRIO}
    return Profile(binding.label, f"{plan.name}-{binding.label}", binding.ifname, settings, binding.mac)


def profiles(plan: BondPlan, port_prio: bool = False) -> list[Profile]:
    return [bond_profile(plan), *(port_profile(plan, b, port_prio) for b in plan.slaves)]


def new_settings(profile: Profile, uuid: str, wrap: Wrap) -> dict[str, dict[str, Any]]:
    """The AddConnection2 body for a profile that does not exist yet."""
    out: dict[str, dict[str, Any]] = {"connection": {"id": wrap("connection", "id", profile.id),
                                                     "uuid": wrap("connection", "uuid", uuid)}}
    for section, keys in profile.settings.items():
        for key, value in keys.items():
            if value is not None:
                out.setdefault(section, {})[key] = wrap(section, key, value)
    return out


def respell(profile: Profile, existing: Settings) -> Profile:
    """The profile with bond options spelled as the existing profile spells them where they mean the
    same ("fail_over_mac=1" for "active"): NM compares option strings when deciding whether a change
    can be reapplied, and would otherwise reactivate (drop) the bond for a change that is none.
    NM 1.42 and 1.52 alike store and send the seed's "fail_over_mac=1" verbatim (the kernel says active)."""
    want = (profile.settings.get("bond") or {}).get("options")
    have = (existing.get("bond") or {}).get("options") or {}
    if not want:
        return profile
    spelled = dict(want)
    for key, value in want.items():
        if key in have and bond_options({key: have[key]})[key] == bond_options({key: value})[key]:
            spelled[key] = str(have[key])
    settings = {**profile.settings, "bond": {**profile.settings["bond"], "options": spelled}}
    return replace(profile, settings=settings)


def merge(existing: dict[str, dict[str, Any]], profile: Profile, wrap: Wrap) -> dict[str, dict[str, Any]]:
    """The Update2 body: NM's current settings (values as NM sent them) with vfbond's keys replaced."""
    out = {section: dict(values) for section, values in existing.items()}
    for section, keys in profile.settings.items():
        for key, value in keys.items():
            for shadow in SHADOWED_BY.get((section, key), ()):
                out.get(section, {}).pop(shadow, None)
            if value is None:
                out.get(section, {}).pop(key, None)
            else:
                out.setdefault(section, {})[key] = wrap(section, key, value)
    return out


# --- comparing ----------------------------------------------------------------------------------

def mac_str(value: Any) -> str | None:
    if value is None or value == b"" or value == "":
        return None
    if isinstance(value, (bytes, bytearray, list)):
        return ":".join(f"{b:02x}" for b in value)
    return str(value).lower()


def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def bond_options(options: dict[str, str] | None) -> dict[str, str]:
    """Options as the kernel ends up with them: enum numbers as names, left-out options at default."""
    out = dict(BOND_DEFAULTS)
    for key, value in (options or {}).items():
        value = str(value).strip()
        names = BOND_ENUMS.get(key)
        if names and value.isdigit() and int(value) < len(names):
            value = names[int(value)]
        out[key] = value
    # num_unsol_na is the kernel's second name for num_grat_arp: one counter.
    out.setdefault("num_unsol_na", out["num_grat_arp"])
    if not out.get("primary"):
        out.pop("primary", None)
    return out


def _addresses(value: Any) -> list[str]:
    out = []
    for item in value or []:
        out.append(str(ipaddress.ip_interface(f"{item['address']}/{item['prefix']}")))
    return sorted(out)


def normalise(section: str, key: str, value: Any, master_aliases: Iterable[str] = ()) -> Any:
    """A comparable form of one value; absent (None) becomes NM's default."""
    if value is None:
        value = DEFAULTS.get((section, key))
    if value is None:
        return None
    if key in ("mac-address", "cloned-mac-address"):
        return mac_str(value)
    if key == "address-data":
        return _addresses(value)
    if key == "gateway":
        return str(ipaddress.ip_address(value)) if value else None
    if (section, key) == ("bond", "options"):
        return bond_options(value)
    if (section, key) == ("connection", "master") and value in set(master_aliases):
        return "\0bond"  # the bond's interface name, uuid and id all name the same controller
    if value == "":
        return None
    return value


def _get(settings: Settings, section: str, key: str) -> Any:
    values = settings.get(section) or {}
    if key in values:
        return values[key]
    for (s, alias), canonical in ALIASES.items():
        if s == section and canonical == key and alias in values:
            return values[alias]
    return None


def differences(profile: Profile, existing: Settings, master_aliases: Iterable[str] = ()) -> list[Difference]:
    """Where an existing profile (plain GetSettings output) differs from what vfbond wants."""
    aliases = set(master_aliases)
    found: list[Difference] = []
    for section, keys in profile.settings.items():
        for key, desired in keys.items():
            current = _get(existing, section, key)
            have = normalise(section, key, current, aliases)
            want = normalise(section, key, desired, aliases)
            if have == want:
                continue
            if (section, key) == ("bond", "options"):
                for opt in sorted(set(have) | set(want)):
                    if have.get(opt) != want.get(opt):
                        found.append(Difference(f"bond.options.{opt}", have.get(opt), want.get(opt)))
            elif key == "master":
                found.append(Difference(f"{section}.{key}", current, desired))
            else:
                found.append(Difference(f"{section}.{key}", have, want))
    return found


# --- finding ------------------------------------------------------------------------------------

def conn(settings: Settings, key: str) -> Any:
    return _get(settings, "connection", key)


def is_bond_for(settings: Settings, name: str) -> bool:
    return conn(settings, "type") == "bond" and conn(settings, "interface-name") == name


def bond_aliases(name: str, bond_settings: Settings | None) -> set[str]:
    """How a port's connection.master may name the bond: interface name, profile uuid or id."""
    names = {name}
    if bond_settings:
        names |= {v for v in (conn(bond_settings, "uuid"), conn(bond_settings, "id")) if v}
    return names


def is_port_of(settings: Settings, aliases: set[str]) -> bool:
    return conn(settings, "slave-type") == "bond" and conn(settings, "master") in aliases


def matches_vf(settings: Settings, mac: str | None, ifname: str | None) -> bool:
    """The profile is meant for this VF: its MAC match names the VF's MAC, or (no MAC match) its
    interface-name is the VF's current name. A stale interface-name next to a matching MAC still counts."""
    have_mac = mac_str((settings.get(WIRED) or {}).get("mac-address"))
    if have_mac:
        return mac is not None and have_mac == mac.lower()
    have_name = conn(settings, "interface-name")
    return bool(have_name) and have_name == ifname


def choose(candidates: list[tuple[str, Settings]], active_uuid: str | None) -> tuple[str, Settings] | None:
    """Of several profiles for the same thing: the active one, else the most recently used."""
    if not candidates:
        return None
    for path, settings in candidates:
        if active_uuid and conn(settings, "uuid") == active_uuid:
            return path, settings
    return max(candidates, key=lambda c: int(conn(c[1], "timestamp") or 0))
