"""MAC-lock verdicts from a MAC change's answer and from kernel lines (pure)."""

from __future__ import annotations

import errno

from vfbond.supervise.maclock import MacLock, probe_mac, verdict_of_error, verdict_of_kernel
from vfbond.watch.kmsg_rules import KernelObservation, Kind


def test_refusals_of_the_vf_drivers_mean_locked_and_acceptance_unlocked() -> None:
    for code in (errno.EADDRNOTAVAIL, errno.EPERM, errno.EACCES):  # igbvf, ixgbevf, iavf
        assert verdict_of_error(code).state is MacLock.LOCKED
    locked = verdict_of_error(errno.EADDRNOTAVAIL)
    assert locked.text("sriov1") == "sriov1: MAC locked by the host (untrusted VF): refused a MAC change " \
                                    "(EADDRNOTAVAIL)"
    assert verdict_of_error(None).state is MacLock.UNLOCKED
    other = verdict_of_error(errno.EBUSY, "Device or resource busy")
    assert other.state is MacLock.UNKNOWN and "Device or resource busy" in other.why


def test_bonding_and_iavf_lines_are_evidence_of_a_lock() -> None:
    refused = KernelObservation(Kind.MAC_REFUSED, "enp1s0v0", None, "bonding",
                                "bond0: (slave enp1s0v0): Error -99 calling set_mac_address")
    verdict = verdict_of_kernel(refused)
    assert verdict is not None and verdict.state is MacLock.LOCKED and "Error -99" in verdict.why
    denied = KernelObservation(Kind.MAC_FILTER_REFUSED, "ens5", "0000:00:05.0", "iavf",
                               "iavf 0000:00:05.0: Failed to add MAC filter, error IAVF_ERR_NVM")
    assert verdict_of_kernel(denied).state is MacLock.LOCKED  # type: ignore[union-attr]
    assert verdict_of_kernel(KernelObservation(Kind.LINK_UP, "ens5", None, "iavf", "x")) is None


def test_the_probe_mac_is_unicast_locally_administered_and_differs() -> None:
    for mac in ("fa:16:3e:00:00:02", "06:16:3e:00:00:02", "52:54:00:12:34:56"):
        trial = probe_mac(mac)
        first = int(trial[:2], 16)
        assert trial != mac and first & 0x01 == 0 and first & 0x02 and trial[2:] == mac[2:]
