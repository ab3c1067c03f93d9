"""Read bond and slave state from the kernel: netlink (pyroute2) first, sysfs for hardware facts.

pyroute2 (and asyncio) are imported where a read needs them: bondctl imports this module for
BondState while reading sysfs alone (kernel/sysfs_state.py), and `import pyroute2` alone costs more
than its whole budget (bench/startup.py)."""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from vfbond.kernel import ethtool

if TYPE_CHECKING:
    from vfbond.kernel.rtnl import Rtnl
    from vfbond.shared.status import BondDict

SYS_NET = Path("/sys/class/net")
IFF_UP = 0x1  # include/uapi/linux/if.h

# Kernel enum values (include/uapi/linux/if_bonding.h, drivers/net/bonding).
BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb")
FAIL_OVER_MAC = ("none", "active", "follow")
PRIMARY_RESELECT = ("always", "better", "failure")
MII_STATUS = ("up", "fail", "down", "back")
SLAVE_STATE = ("active", "backup")

# Upper devices carry a slave's MAC (a bond with fail_over_mac=none, a VLAN): never take them for a VF.
UPPER_KINDS = {"bond", "bridge", "vlan", "macvlan", "macvtap", "ipvlan", "team", "vxlan"}


@dataclass
class LinkInfo:
    """Any interface: what is needed to find a VF by name, MAC or driver."""

    index: int
    name: str
    mac: str
    perm_mac: str | None
    kind: str | None
    master: int | None
    carrier: bool
    operstate: str
    mtu: int
    up: bool = True  # administratively (IFF_UP): `ip link set X down` clears it, a lost carrier does not
    driver: str | None = None
    pci_address: str | None = None
    pf_address: str | None = None  # the physical function behind a VF: two VFs on one PF are no redundancy
    numa_node: int | None = None
    speed_mbps: int | None = None


@dataclass
class SlaveState:
    link: LinkInfo
    state: str  # active | backup
    mii_status: str  # up | fail | down | back
    link_failure_count: int
    perm_mac: str | None  # the MAC the slave had when enslaved, as the bond remembers it

    @property
    def name(self) -> str:
        return self.link.name

    @property
    def mac_changed(self) -> bool:
        """The slave no longer carries its own MAC (fail_over_mac=none/follow, or changed under us)."""
        return bool(self.perm_mac) and self.perm_mac != self.link.mac


@dataclass
class BondState:
    link: LinkInfo
    mode: str
    active_slave: str | None
    miimon: int
    updelay: int
    downdelay: int
    fail_over_mac: str
    primary: str | None
    primary_reselect: str
    arp_interval: int
    arp_ip_targets: list[str]
    num_peer_notif: int
    slaves: list[SlaveState] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)  # CIDR, link-local IPv6 left out

    @property
    def name(self) -> str:
        return self.link.name

    def slave(self, name: str) -> SlaveState | None:
        return next((s for s in self.slaves if s.name == name), None)

    def to_dict(self) -> BondDict:
        return cast("BondDict", asdict(self))


def sysfs_text(ifname: str, rel: str, sys_net: Path | None = None) -> str | None:
    try:
        return ((sys_net or SYS_NET) / ifname / rel).read_text().strip()
    except OSError:
        return None


class Device(NamedTuple):
    """What sysfs says of a link's device: fixed for the life of an ifindex (a VF reset or replugged
    comes back with a new one)."""

    driver: str | None
    pci_address: str | None
    pf_address: str | None
    numa_node: int | None


def device(name: str, kind: str | None, sys_net: Path | None = None) -> Device:
    """Driver, PCI address, PF and NUMA node where sysfs has them (real VFs); a virtual link's driver is
    its kind (veth, dummy)."""
    dev = (sys_net or SYS_NET) / name / "device"
    if not dev.exists():
        return Device(kind, None, None, None)
    driver = dev / "driver"
    numa = sysfs_text(name, "device/numa_node", sys_net)
    return Device(
        driver=os.path.basename(os.path.realpath(driver)) if driver.exists() else None,
        pci_address=os.path.basename(os.path.realpath(dev)),
        pf_address=os.path.basename(os.path.realpath(dev / "physfn")) if (dev / "physfn").exists() else None,
        numa_node=int(numa) if numa and numa.lstrip("-").isdigit() and int(numa) >= 0 else None)


def fill_hardware(info: LinkInfo, sys_net: Path | None = None) -> None:
    """Fill the device's facts, and the speed of a link with carrier (kernel/ethtool.py: the ioctl
    sleeps on RTNL where sysfs's file spins)."""
    info.driver, info.pci_address, info.pf_address, info.numa_node = device(info.name, info.kind, sys_net)
    info.speed_mbps = ethtool.speed(info.name) if info.carrier else None  # as sysfs: none without a link


# A read of the bond decodes the bond and each slave: on a flapping VF, sysfs walks and an ioctl per
# link per read were most of a read's cost. The device's facts are read once per ifindex, the speed
# once per carrier change (IFLA_CARRIER_CHANGES counts them).
@functools.lru_cache(maxsize=256)
def _device_of(index: int, name: str, kind: str | None) -> Device:
    return device(name, kind)


@functools.lru_cache(maxsize=256)
def _speed_of(index: int, name: str, carrier_changes: int) -> int | None:
    return ethtool.speed(name)


def link_info(msg: Any) -> LinkInfo:
    """A link's message decoded, with its device's facts and speed (ioctls: call it off the loop)."""
    info = LinkInfo(
        index=msg["index"],
        name=msg.get("ifname"),
        mac=(msg.get("address") or "").lower(),
        perm_mac=(msg.get("perm_address") or None),
        kind=msg.get(("linkinfo", "kind")),
        master=msg.get("master"),
        carrier=bool(msg.get("carrier")),
        operstate=msg.get("operstate") or "UNKNOWN",
        mtu=msg.get("mtu") or 0,
        up=bool((msg.get("flags") or 0) & IFF_UP),
    )
    info.driver, info.pci_address, info.pf_address, info.numa_node = _device_of(info.index, info.name, info.kind)
    if info.carrier:  # as sysfs: no speed without a link
        changes = msg.get("carrier_changes")
        info.speed_mbps = ethtool.speed(info.name) if changes is None else _speed_of(info.index, info.name, changes)
    return info


def _enum(values: tuple[str, ...], raw: int | None) -> str:
    return values[raw] if raw is not None and 0 <= raw < len(values) else f"unknown({raw})"


async def dump_links(ipr: Rtnl, *, master: int | None = None) -> list[Any]:
    """Every link's message, or with `master` only its slaves': IFLA_MASTER goes in the request and the
    kernel filters (pyroute2's own `master=` would decode every link and drop the others). A kernel
    that ignores the attribute sends every link: callers check `master` themselves. (The kernel's
    EBUSY for a second dump on a socket is kernel/rtnl.py's to avoid: its dumps take turns.)"""
    query: dict[str, Any] = {} if master is None else {"dump_filter": None, "master": master}
    return [m async for m in await ipr.link("dump", **query)]


async def link_infos(msgs: list[Any]) -> list[LinkInfo]:
    """Each message's LinkInfo, decoded in a thread: the speed's ioctl waits for RTNL, which on the
    event loop would hold the loop as a blocked rtnetlink request would (kernel/rtnl.py)."""
    import asyncio

    return await asyncio.to_thread(lambda: [link_info(m) for m in msgs])


async def links(ipr: Rtnl) -> list[LinkInfo]:
    return await link_infos(await dump_links(ipr))


async def read_bond(ipr: Rtnl, name: str) -> BondState | None:
    """The bond and its slaves, or None when there is no bond of that name."""
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        (msg,) = tuple(await ipr.link("get", ifname=name))
    except NetlinkError as exc:
        if exc.code == 19:  # ENODEV
            return None
        raise
    if msg.get(("linkinfo", "kind")) != "bond":
        return None
    data = msg.get(("linkinfo", "data"))
    # Only the slaves are dumped: on a flapping VF the dump of every link was most of vfbondd's CPU.
    # The active slave and the primary are slaves (the kernel reports neither otherwise).
    slave_msgs = [m for m in await dump_links(ipr, master=msg["index"]) if m.get("master") == msg["index"]]
    bond_info, *slave_infos = await link_infos([msg, *slave_msgs])
    by_index: dict[int, str] = {m["index"]: m.get("ifname") for m in slave_msgs}
    slaves: list[SlaveState] = []
    for m, info in zip(slave_msgs, slave_infos, strict=True):
        sd = m.get(("linkinfo", "slave_data"))
        slaves.append(SlaveState(
            link=info,
            state=_enum(SLAVE_STATE, sd.get("IFLA_BOND_SLAVE_STATE") if sd else None),
            mii_status=_enum(MII_STATUS, sd.get("IFLA_BOND_SLAVE_MII_STATUS") if sd else None),
            link_failure_count=(sd.get("IFLA_BOND_SLAVE_LINK_FAILURE_COUNT") or 0) if sd else 0,
            perm_mac=((sd.get("IFLA_BOND_SLAVE_PERM_HWADDR") or "").lower() or None) if sd else None,
        ))
    active = data.get("IFLA_BOND_ACTIVE_SLAVE")
    primary = data.get("IFLA_BOND_PRIMARY")
    targets = data.get("IFLA_BOND_ARP_IP_TARGET") or []
    return BondState(
        link=bond_info,
        mode=_enum(BOND_MODES, data.get("IFLA_BOND_MODE")),
        active_slave=by_index.get(active) if active else None,
        miimon=data.get("IFLA_BOND_MIIMON") or 0,
        updelay=data.get("IFLA_BOND_UPDELAY") or 0,
        downdelay=data.get("IFLA_BOND_DOWNDELAY") or 0,
        fail_over_mac=_enum(FAIL_OVER_MAC, data.get("IFLA_BOND_FAIL_OVER_MAC")),
        primary=by_index.get(primary) if primary else None,
        primary_reselect=_enum(PRIMARY_RESELECT, data.get("IFLA_BOND_PRIMARY_RESELECT")),
        arp_interval=data.get("IFLA_BOND_ARP_INTERVAL") or 0,
        arp_ip_targets=[t for t in (targets if isinstance(targets, list) else [targets]) if t],
        num_peer_notif=data.get("IFLA_BOND_NUM_PEER_NOTIF") or 0,
        slaves=sorted(slaves, key=lambda s: s.name),
        addresses=await addresses(ipr, msg["index"]),
    )


async def addresses(ipr: Rtnl, index: int) -> list[str]:
    found = []
    async for a in await ipr.addr("dump", index=index):
        addr = a.get("address")
        if addr and not addr.lower().startswith("fe80:"):
            found.append(f"{addr}/{a['prefixlen']}")
    return sorted(found)
