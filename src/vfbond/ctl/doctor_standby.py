"""bondctl doctor on the standby (bond.standby, #22): it is on this VM and in the bond, it is no VF (Nova
detaches every SR-IOV port in a live migration, so a VF standby leaves with the others), and its path
answers vfbondd's probes. Pure, like doctor.py's checks: facts in, findings out.
"""

from __future__ import annotations

from vfbond.ctl.doctor_facts import Facts, Slave, standby
from vfbond.ctl.doctor_findings import Finding, Status
from vfbond.kernel.bond_state import LinkInfo
from vfbond.shared.status import Verdict
from vfbond.watch.kmsg_rules import VF_DRIVERS

# The drivers that only drive VFs, and mlx5_core: inside a VM it drives a ConnectX function passed
# through, which Nova detaches in a live migration as it does a VF.
PASSTHROUGH_DRIVERS = VF_DRIVERS | {"mlx5_core"}
PARAVIRTUAL_PORT = ("a paravirtual port: a second Neutron port with vnic_type normal (virtio through OVS or "
                    "Linux bridge) or macvtap")


def check_standby(facts: Facts) -> list[Finding]:
    """Nothing without a standby configured."""
    member = standby(facts)
    if member is None:
        return []
    if member.link is None:
        return [Finding("standby", Status.WARN, f"{member.label} ({member.spec}) is not on this VM: the bond runs "
                        "on the VFs alone, and a live migration (which detaches both) cuts the VM off",
                        f"attach {PARAVIRTUAL_PORT}, and name its MAC as bond.standby (`ip -br link` lists them)")]
    found = [_in_bond(facts, member, member.link), _not_a_vf(member.link), _path(facts, member.link)]
    return [f for f in found if f is not None]


def _in_bond(facts: Facts, member: Slave, link: LinkInfo) -> Finding:
    b = facts.bond
    if b is not None and link.master != b.link.index:
        return Finding("standby", Status.WARN, f"{link.name} (the standby) is not in {b.name}",
                       "systemctl restart vfbondd (it enslaves the standby when it shows up), or bondctl apply")
    return Finding("standby", Status.PASS, f"{member.label} = {link.name} ({member.spec})"
                   + (f", in {b.name}" if b is not None else ""))


def _not_a_vf(link: LinkInfo) -> Finding:
    if link.driver in PASSTHROUGH_DRIVERS or link.pf_address:
        what = f"has a physical function ({link.pf_address})" if link.pf_address else f"is driven by {link.driver}"
        return Finding("standby-driver", Status.FAIL, f"the standby {link.name} {what}: an SR-IOV VF, which Nova "
                       "detaches in a live migration like the others, so nothing carries the VM meanwhile",
                       f"use {PARAVIRTUAL_PORT}, and name its MAC as bond.standby")
    return Finding("standby-driver", Status.PASS, f"the standby {link.name} ({link.driver or 'driver unknown'}) is "
                   "not an SR-IOV VF: a live migration keeps it")


def _path(facts: Facts, link: LinkInfo) -> Finding | None:
    """vfbondd's verdict: it probes the standby like the VFs. Without probes the path-probes check warns."""
    status = facts.daemon
    if facts.config is None or not facts.config.probes.enabled or status is None:
        return None
    verdict = (status.get("verdicts") or {}).get(link.name)
    targets = ", ".join(facts.config.probes.targets)
    if verdict == Verdict.UP:
        return Finding("standby-path", Status.PASS, f"{targets} answer through the standby {link.name} "
                       "(vfbondd's probes)")
    if verdict == Verdict.PATH_DOWN:
        return Finding("standby-path", Status.FAIL, f"{targets} do not answer through the standby {link.name}: in "
                       "a migration the VM would be cut off. Neutron's port security drops the bond's MAC and "
                       "addresses on a second port unless allowed-address-pairs (or no port security) are set on "
                       "the standby's port", _allow(facts, link))
    if verdict == Verdict.DOWN:
        return Finding("standby-path", Status.FAIL, f"the standby {link.name} has no carrier: it cannot carry the "
                       "VM in a migration", "check its port on the host: `openstack port show <standby port>` "
                       "(status ACTIVE, admin state up)")
    if verdict == Verdict.UNKNOWN:
        return Finding("standby-path", Status.WARN, f"vfbondd's probes have not decided on the standby {link.name} "
                       "yet", "run bondctl doctor again in a minute")
    return None  # not in the bond: the standby check says so


def _allow(facts: Facts, link: LinkInfo) -> str:
    """The host's command, with the bond's addresses and the standby's MAC filled in where they are known."""
    mac = (link.perm_mac or link.mac).lower()
    addresses = [a.split("/")[0] for a in (facts.bond.addresses if facts.bond else [])] or ["<bond address>"]
    pairs = " ".join(f"--allowed-address ip-address={ip},mac-address={mac}" for ip in addresses)
    return (f"on the host: openstack port set {pairs} <standby port>; or openstack port set --no-security-group "
            "--disable-port-security <standby port>")
