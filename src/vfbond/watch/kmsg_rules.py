"""Which kernel log lines matter to a bond of VFs, the slave each one concerns, and what to do on the host.

Pure: a line in, a typed observation (or None) out. Only the VF drivers' and the bonding driver's
own lines count. In a VM the PF and its log are on the host; in the lab the PF is in the guest,
and its lines (`igb 0000:01:00.0: ...`) must not be read as the VF's.

Kernel formats (include/linux/dev_printk.h, net/core/dev.c netdev_printk, bonding's slave_*):
  dev_*:     "<driver> <pci address>: <message>"
  netdev_*:  "<driver> <pci address> <ifname>[ (unregistering)]: <message>"
  bonding:   "<bond>: (slave <ifname>): <message>"   (older kernels: "<bond>: <message> ... interface <ifname>")
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

PCI = r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]"
DEVICE_LINE = re.compile(rf"^(?P<driver>[\w-]+) (?P<pci>{PCI})(?: (?P<ifname>[^\s:]+)(?: \(\w+\))?)?: (?P<msg>.*)$")
BOND_LINE = re.compile(r"^(?P<bond>[^\s:]+): (?:\(slave (?P<ifname>[^\s)]+)\): )?(?P<msg>.*)$")
OLD_BOND_SLAVE = re.compile(r"interface (?P<ifname>[^\s,]+)")

# Drivers that only ever drive VFs: their lines while a VF is probed (no netdev yet, or one not yet
# carrying the MAC the bond knows it by) are taken as the bond's re-created VF; any other line must be
# about one of the bond's VFs.
VF_DRIVERS = frozenset({"igbvf", "ixgbevf", "iavf", "i40evf"})


class Kind(StrEnum):
    PF_RESETTING = "pf_resetting"
    PF_NOT_READY = "pf_not_ready"
    LINK_DOWN = "link_down"
    LINK_UP = "link_up"
    MAC_REFUSED = "mac_refused"
    MAC_FILTER_REFUSED = "mac_filter_refused"
    RANDOM_MAC = "random_mac"
    BOND_SLAVE_DOWN = "bond_slave_down"
    BOND_SLAVE_UP = "bond_slave_up"


TRUST_FIX = "on the host: `ip link set <pf> vf <n> trust on`, or keep fail_over_mac: active (each VF keeps its MAC)"
HINTS: dict[Kind, str] = {
    Kind.PF_RESETTING: "the host's PF is resetting or down (PF admin down, driver reload, firmware update): "
                       "check the PF on the host (`ip link show <pf>`); the VF recovers by itself once the PF is up",
    Kind.PF_NOT_READY: "the VF started while its PF was down: bring the PF up on the host, then reset the VF "
                       "(`ip link set <vf> down; ip link set <vf> up` in the VM)",
    Kind.LINK_DOWN: "carrier lost: the PF's link, a PF reset, or the switch port behind the host",
    Kind.MAC_REFUSED: f"the host refused a MAC change on this VF (untrusted VF with an admin MAC): {TRUST_FIX}",
    Kind.MAC_FILTER_REFUSED: f"the host denied the VF an extra MAC filter (untrusted VF): {TRUST_FIX}",
    Kind.RANDOM_MAC: "the host set no MAC for this VF (yet; e.g. the VF was re-created): Nova/Neutron set it "
                     "(`ip link set <pf> vf <n> mac ...`) and the VF driver resets; until then the VF is not "
                     "found by its configured MAC",
    Kind.LINK_UP: "",
    Kind.BOND_SLAVE_DOWN: "",
    Kind.BOND_SLAVE_UP: "",
}
PROBE_TIME = frozenset({Kind.RANDOM_MAC, Kind.PF_NOT_READY})  # logged while a VF driver binds
# Kinds an operator is alerted to; the others only feed status and the PF-reset tracker.
ALERTS = frozenset({Kind.PF_RESETTING, Kind.PF_NOT_READY, Kind.LINK_DOWN, Kind.MAC_REFUSED,
                    Kind.MAC_FILTER_REFUSED, Kind.RANDOM_MAC})

# (message pattern, kind) for VF driver lines, first match wins. igbvf, ixgbevf, iavf, mlx5_core.
DEVICE_RULES: tuple[tuple[re.Pattern[str], Kind], ...] = tuple((re.compile(p), k) for p, k in (
    (r"^PF still in reset state", Kind.PF_NOT_READY),  # igbvf/ixgbevf probe
    (r"^PF still resetting", Kind.PF_RESETTING),  # igbvf/ixgbevf reset task
    (r"^Reset (?:warning|indication) received from the PF", Kind.PF_RESETTING),  # iavf
    (r"^Hardware reset detected", Kind.PF_RESETTING),  # iavf
    (r"^(?:NIC )?Link is Down", Kind.LINK_DOWN),  # igbvf / ixgbevf, iavf
    (r"^Link down$", Kind.LINK_DOWN),  # mlx5e
    (r"^(?:NIC )?Link is Up", Kind.LINK_UP),
    (r"^Link up$", Kind.LINK_UP),
    (r"^Failed to add MAC filter", Kind.MAC_FILTER_REFUSED),  # iavf: the PF said no
    (r"^Assigning random MAC address", Kind.RANDOM_MAC),  # igbvf
    (r"^MAC address not assigned by administrator", Kind.RANDOM_MAC),  # ixgbevf
    (r"^Invalid MAC address .*, using random", Kind.RANDOM_MAC),  # iavf
))
BOND_RULES: tuple[tuple[re.Pattern[str], Kind], ...] = tuple((re.compile(p), k) for p, k in (
    # the refusals of a host-locked MAC: EADDRNOTAVAIL (igbvf), EPERM (ixgbevf), EACCES (iavf)
    (r"Error -(?:99|1|13) calling set_mac_address", Kind.MAC_REFUSED),
    (r"link status definitely down", Kind.BOND_SLAVE_DOWN),
    (r"link status definitely up", Kind.BOND_SLAVE_UP),
))


@dataclass(frozen=True)
class KernelObservation:
    kind: Kind
    slave: str | None  # the netdev it concerns; None for a VF that has none (yet)
    pci: str | None
    driver: str  # "bonding" for the bond's lines
    text: str
    at: float = 0.0  # time.monotonic() when the line was read

    @property
    def hint(self) -> str:
        return HINTS[self.kind]

    @property
    def alert(self) -> bool:
        return self.kind in ALERTS

    @property
    def subject(self) -> str:
        """What the line is about, for people: the netdev, else the PCI address."""
        return self.slave or self.pci or "?"


def classify(text: str, *, bond: str, netdev_of: Callable[[str], str | None], is_slave: Callable[[str], bool],
             at: float = 0.0) -> KernelObservation | None:
    """The observation in one kernel line, or None when it is not about this bond or one of its VFs.

    `netdev_of` maps a PCI address to its netdev (sysfs); `is_slave` says whether a netdev is one of
    the bond's VFs.
    """
    if m := DEVICE_LINE.match(text):
        kind = _first(DEVICE_RULES, m["msg"])
        driver, pci = m["driver"], m["pci"]
        ifname = m["ifname"] or netdev_of(pci)
        if kind is None or not _ours(kind, driver, ifname, is_slave):
            return None  # a line that does not matter, a PF's line, or another VF than the bond's
        return KernelObservation(kind, ifname, pci, driver, text, at)
    if (m := BOND_LINE.match(text)) and m["bond"] == bond and (kind := _first(BOND_RULES, m["msg"])):
        ifname = m["ifname"] or ((old := OLD_BOND_SLAVE.search(m["msg"])) and old["ifname"]) or None
        return KernelObservation(kind, ifname, None, "bonding", text, at)
    return None


def _ours(kind: Kind, driver: str, ifname: str | None, is_slave: Callable[[str], bool]) -> bool:
    if ifname is not None and is_slave(ifname):
        return True
    # A VF being (re)created cannot be told apart yet: no netdev, or one with a random MAC.
    return driver in VF_DRIVERS and (ifname is None or kind in PROBE_TIME)


def _first(rules: tuple[tuple[re.Pattern[str], Kind], ...], message: str) -> Kind | None:
    return next((kind for pattern, kind in rules if pattern.search(message)), None)
