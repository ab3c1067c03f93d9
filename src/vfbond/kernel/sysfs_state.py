"""Read a bond and its slaves from sysfs, without netlink: bondctl's reading when vfbondd does not
answer. `import pyroute2` alone took ~160 ms of such a `bondctl health` (bench/startup.py); these
reads take about a millisecond.

The BondState is the one bond_state.read_bond builds from netlink, so the status table and the
health verdict do not depend on the reader. tests/lab/test_sysfs_state.py compares the two on a
real bond; they differ only where the kernel's two views do:
- carrier: sysfs has none for an administratively down link (EINVAL): False here, while netlink
  gives the driver's flag;
- kind: "bond" for the bond; any other link without a device gets its ethtool driver name, which is
  netlink's kind for veth, dummy and bridge but not for every virtual link (a VLAN's driver is
  "802.1Q VLAN Support"); links with a device (VFs) have none, as in netlink;
- a reading is one file after another: a failover in between shows half of it (a netlink reading is
  two requests and can straddle one too).
The addresses come from one RTM_GETADDR dump (addr_dump.py), the permanent MAC and a virtual link's
driver from SIOCETHTOOL (ethtool.py): sysfs has neither."""

from __future__ import annotations

from pathlib import Path

from vfbond.kernel import addr_dump, ethtool
from vfbond.kernel.bond_state import (
    BOND_MODES,
    FAIL_OVER_MAC,
    IFF_UP,
    MII_STATUS,
    PRIMARY_RESELECT,
    SLAVE_STATE,
    SYS_NET,
    BondState,
    LinkInfo,
    SlaveState,
    fill_hardware,
    sysfs_text,
)

# bonding_slave/mii_status spells two of netlink's MII states out (bond_slave_link_status()).
MII_WORDS = {"going down": "fail", "going back": "back"}


def _int(text: str | None) -> int | None:
    return int(text) if text and text.lstrip("-").isdigit() else None


def _known(values: tuple[str, ...], word: str | None) -> str:
    """`word` if the kernel's enum has it; else what bond_state's netlink reader says for a value it
    does not know."""
    return word if word in values else f"unknown({word})"


def read_link(name: str, sys_net: Path | None = None) -> LinkInfo | None:
    """Any link, as bond_state.link_info reads it from netlink; None when it is gone."""
    root = sys_net or SYS_NET
    index = _int(sysfs_text(name, "ifindex", root))
    if index is None:
        return None
    if (root / name / "bonding").is_dir():
        kind: str | None = "bond"
    else:  # a VF has no kind in netlink either; a virtual link's driver is its kind
        kind = None if (root / name / "device").exists() else ethtool.driver(name)
    info = LinkInfo(
        index=index,
        name=name,
        mac=(sysfs_text(name, "address", root) or "").lower(),
        perm_mac=ethtool.permanent_mac(name),
        kind=kind,
        master=_int(sysfs_text(name, "master/ifindex", root)),
        carrier=sysfs_text(name, "carrier", root) == "1",
        operstate=(sysfs_text(name, "operstate", root) or "unknown").upper(),
        mtu=_int(sysfs_text(name, "mtu", root)) or 0,
        up=bool(int(sysfs_text(name, "flags", root) or "0x1", 16) & IFF_UP),
    )
    fill_hardware(info, root)
    return info


def _slave(name: str, root: Path) -> SlaveState | None:
    link = read_link(name, root)
    if link is None:  # released between the bond's list and this read
        return None
    mii = sysfs_text(name, "bonding_slave/mii_status", root) or ""
    return SlaveState(
        link=link,
        state=_known(SLAVE_STATE, sysfs_text(name, "bonding_slave/state", root)),
        mii_status=_known(MII_STATUS, MII_WORDS.get(mii, mii)),
        link_failure_count=_int(sysfs_text(name, "bonding_slave/link_failure_count", root)) or 0,
        perm_mac=(sysfs_text(name, "bonding_slave/perm_hwaddr", root) or "").lower() or None,
    )


def read_bond(name: str, sys_net: Path | None = None) -> BondState | None:
    """The bond and its slaves, or None when there is no bond of that name."""
    root = sys_net or SYS_NET
    if not (root / name / "bonding").is_dir():
        return None
    link = read_link(name, root)
    if link is None:
        return None

    def option(attr: str) -> str:
        return sysfs_text(name, f"bonding/{attr}", root) or ""

    def word(attr: str) -> str | None:  # "active-backup 1": the name, then the kernel's number
        return next(iter(option(attr).split()), None)

    slaves = [s for s in (_slave(n, root) for n in option("slaves").split()) if s]
    return BondState(
        link=link,
        mode=_known(BOND_MODES, word("mode")),
        active_slave=option("active_slave") or None,
        miimon=_int(option("miimon")) or 0,
        updelay=_int(option("updelay")) or 0,
        downdelay=_int(option("downdelay")) or 0,
        fail_over_mac=_known(FAIL_OVER_MAC, word("fail_over_mac")),
        primary=option("primary") or None,
        primary_reselect=_known(PRIMARY_RESELECT, word("primary_reselect")),
        arp_interval=_int(option("arp_interval")) or 0,
        arp_ip_targets=option("arp_ip_target").split(),
        num_peer_notif=_int(option("num_grat_arp")) or 0,
        slaves=sorted(slaves, key=lambda s: s.name),
        addresses=addr_dump.addresses(link.index),
    )
