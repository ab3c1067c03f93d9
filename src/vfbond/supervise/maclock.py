"""Is a VF's MAC locked by the host? Found by trying a change on the backup, or from the kernel's own words.

An untrusted VF whose MAC the host set (Nova/Neutron: `ip link set <pf> vf N mac ...`) refuses any
other MAC: igbvf returns EADDRNOTAVAIL, ixgbevf EPERM, iavf EACCES, and bonding logs "Error -99
calling set_mac_address" when it tries. Such a VF works in a bond only with fail_over_mac=active.

The probe sets a locally administered MAC on a backup slave and puts the old one back at once. A
backup sends nothing in active-backup mode and traffic to the bond goes to the active slave's MAC,
so the change disturbs no traffic; the active slave is never probed. The trial MAC is on the backup
for two netlink round trips; should the active fail in exactly that window and the bond switch to
the backup, fail_over_mac=active would take the trial MAC for the bond, so the caller probes only
while the active slave has carrier. `verdict_*` are pure.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import StrEnum

from pyroute2.netlink.exceptions import NetlinkError

from vfbond.kernel.rtnl import Rtnl
from vfbond.shared.status import LockDict
from vfbond.watch.kmsg_rules import KernelObservation, Kind

REFUSALS = {errno.EADDRNOTAVAIL: "EADDRNOTAVAIL", errno.EPERM: "EPERM", errno.EACCES: "EACCES"}


class MacLock(StrEnum):
    LOCKED = "locked"
    UNLOCKED = "unlocked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LockVerdict:
    state: MacLock
    why: str
    restore_error: str | None = None  # the probe could not put the VF's MAC back: an operator must

    def text(self, slave: str) -> str:
        """One line for status, e.g. 'sriov1: MAC locked by the host (untrusted VF)'."""
        if self.state is MacLock.LOCKED:
            return f"{slave}: MAC locked by the host (untrusted VF): {self.why}"
        if self.state is MacLock.UNLOCKED:
            return f"{slave}: MAC not locked: {self.why}"
        return f"{slave}: MAC lock unknown: {self.why}"

    def to_dict(self) -> LockDict:
        return {"state": self.state.value, "why": self.why, "restore_error": self.restore_error}


def verdict_of_error(code: int | None, detail: str = "") -> LockVerdict:
    """What the answer to a MAC change says; code None: it was accepted."""
    if code is None:
        return LockVerdict(MacLock.UNLOCKED, "accepted a MAC change (trusted VF, or no MAC set by the host)")
    if code in REFUSALS:
        return LockVerdict(MacLock.LOCKED, f"refused a MAC change ({REFUSALS[code]})")
    why = detail or errno.errorcode.get(code, str(code))
    return LockVerdict(MacLock.UNKNOWN, f"the MAC change failed otherwise ({why})")


def verdict_of_kernel(obs: KernelObservation) -> LockVerdict | None:
    """Evidence from the kernel log, or None when the line says nothing about the MAC lock."""
    if obs.kind is Kind.MAC_REFUSED:
        return LockVerdict(MacLock.LOCKED, f"the kernel logged {obs.text!r}")
    if obs.kind is Kind.MAC_FILTER_REFUSED:
        return LockVerdict(MacLock.LOCKED, f"the host denied a MAC filter: {obs.text!r}")
    return None


def probe_mac(mac: str) -> str:
    """A unicast, locally administered MAC that differs from `mac` and from Neutron's fa:16:3e range."""
    first = 0x06 if mac[:2].lower() != "06" else 0x0A
    return f"{first:02x}{mac[2:].lower()}"


async def probe(ipr: Rtnl, ifname: str, index: int, mac: str) -> LockVerdict:
    """Try a MAC change on the backup `ifname` (ifindex `index`), which carries `mac`, and restore `mac` at once."""
    trial = probe_mac(mac)
    try:
        await ipr.link("set", index=index, address=trial)
    except NetlinkError as exc:
        return verdict_of_error(exc.code, str(exc))
    verdict = verdict_of_error(None)
    return LockVerdict(verdict.state, verdict.why, await _restore(ipr, ifname, index, mac))


async def _restore(ipr: Rtnl, ifname: str, index: int, mac: str) -> str | None:
    error = None
    for _ in range(2):  # once more: a VF resetting under us may refuse the first time
        try:
            await ipr.link("set", index=index, address=mac)
            return None
        except NetlinkError as exc:
            error = f"could not put {mac} back on {ifname}: {exc}. Fix: ip link set {ifname} address {mac}"
    return error
