"""bondctl doctor: pre-flight checks of the bond and its supervision, each PASS, WARN or FAIL with a fix.

`check(facts)` is pure (facts in, findings out) and holds every rule; `gather()` (doctor_facts.py) only
reads the facts (config file, kernel, ifcfg file, NetworkManager on D-Bus, the vfbondd control socket,
systemd).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from vfbond import config as config_mod
from vfbond.bond_model import PlanError, diff
from vfbond.configure.plan import build
from vfbond.ctl.doctor_facts import UNIT, Facts, Slave, gather, slaves, standby
from vfbond.ctl.doctor_findings import Finding, Status
from vfbond.ctl.doctor_standby import check_standby
from vfbond.ctl.sources import NO_DRIVER
from vfbond.kernel.bond_state import BondState
from vfbond.shared import exitcodes
from vfbond.shared.status import DescribedLock
from vfbond.watch.kmsg_rules import ALERTS

KERNEL_RECENT_S = 600  # a VF driver's line older than this no longer holds up a clean bill of health
ALERT_KINDS = {kind.value for kind in ALERTS}


def _check_config(facts: Facts) -> Finding:
    if facts.config is None:
        shown = "; ".join(facts.config_problems[:2]) + (" ..." if len(facts.config_problems) > 2 else "")
        return Finding("config", Status.FAIL, f"{facts.config_path} is not usable: {shown}",
                       f"bondctl check-config -c {facts.config_path} lists every problem with its fix")
    slaves = " + ".join(f"{s.label} ({s.describe()})" for s in facts.config.bond.slaves)
    return Finding("config", Status.PASS, f"{facts.config_path} is valid: {facts.config.bond.name} over {slaves}")


def _check_config_warnings(facts: Facts) -> list[Finding]:
    return [Finding("config-fit", Status.WARN, f"{w.field}: {w.message}", w.fix) for w in facts.config_warnings]


def _check_bond(facts: Facts) -> Finding:
    b = facts.bond
    if b is None and not facts.bonding_driver:
        return Finding("bond", Status.FAIL, f"{facts.bond_name} does not exist: {NO_DRIVER}",
                       "modprobe bonding, and at boot: echo bonding > /etc/modules-load.d/bonding.conf; "
                       "then systemctl restart vfbondd")
    if b is None:
        return Finding("bond", Status.FAIL, f"{facts.bond_name} does not exist",
                       f"systemctl start vfbondd (it creates the bond), or bondctl apply -c {facts.config_path}")
    if b.mode != "active-backup":
        return Finding("bond", Status.FAIL, f"{b.name} is {b.mode}: VFs support active-backup only",
                       "set mode: active-backup and run bondctl apply (the bond is re-created)")
    if b.active_slave is None:
        return Finding("bond", Status.FAIL, f"{b.name} has no active slave: it passes no traffic",
                       "check both VFs' carrier (`ip -br link`); bondctl status shows why each is down")
    return Finding("bond", Status.PASS, f"{b.name} is active-backup, active slave {b.active_slave}")


def _check_slaves(facts: Facts, slaves: list[Slave]) -> Finding:
    missing = [s for s in slaves if s.link is None]
    if missing:
        names = ", ".join(f"{s.label} ({s.spec})" for s in missing)
        return Finding("slaves", Status.FAIL, f"not found on this VM: {names}",
                       "attach the VF port to the VM (Neutron, vnic_type direct) and check its MAC with `ip -br link`")
    if len(slaves) < 2:
        return Finding("slaves", Status.FAIL, f"{len(slaves)} slave(s): no redundancy",
                       "list two VFs, one from each NIC, under bond.slaves")
    b = facts.bond
    if b is not None:
        loose = [s.link.name for s in slaves if s.link and s.link.master != b.link.index]
        if loose:
            return Finding("slaves", Status.FAIL, f"{', '.join(loose)} not enslaved to {b.name}",
                           "systemctl restart vfbondd (it enslaves them), or bondctl apply")
        wanted = {s.link.name for s in [*slaves, standby(facts)] if s and s.link}  # the standby is named too
        extra = [s.name for s in b.slaves if s.name not in wanted]
        if extra:
            return Finding("slaves", Status.WARN, f"{b.name} also has {', '.join(extra)}, which the config does "
                           "not name", f"release it: ip link set {extra[0]} nomaster")
    return Finding("slaves", Status.PASS, ", ".join(f"{s.label} = {s.link.name}" for s in slaves if s.link)
                   + (f", both in {b.name}" if b is not None else ""))


def _check_distinct_macs(slaves: list[Slave]) -> Finding | None:
    macs = [s.own_mac for s in slaves if s.own_mac]
    if len(macs) < 2:
        return None
    if len(set(macs)) < len(macs):
        return Finding("distinct-macs", Status.FAIL, f"the VFs share the MAC {macs[0]}: spoof-check lets only one "
                       "of them through", "give each Neutron port its own MAC (recreate the port)")
    return Finding("distinct-macs", Status.PASS, f"own MACs {', '.join(macs)}")


def _check_redundancy(slaves: list[Slave]) -> Finding | None:
    found = [s.link for s in slaves if s.link]
    if len(found) < 2:
        return None
    pfs = [link.pf_address for link in found if link.pf_address]
    numa = [link.numa_node for link in found]
    if len(pfs) == len(found) and len(set(pfs)) == 1:
        return Finding("redundancy", Status.WARN, f"both VFs come from one physical function ({pfs[0]}): one NIC "
                       "or cable failure takes both", "attach one VF from each NIC (physnets sriov0 and sriov1)")
    if len(pfs) == len(found):
        return Finding("redundancy", Status.PASS, f"VFs on different physical functions ({', '.join(pfs)})")
    if all(n is not None for n in numa) and len(set(numa)) == len(numa):
        return Finding("redundancy", Status.PASS, f"VFs on NUMA nodes {', '.join(map(str, numa))}: different NICs")
    # Inside a VM the PF is usually not visible. PASS with what to verify by hand: a WARN that no one can
    # clear would only teach operators to ignore exit 6.
    return Finding("redundancy", Status.PASS, "the physical NICs behind the VFs are not visible in this VM: make "
                   "sure the two ports use different physnets (one VF per NIC)")


def _check_fail_over_mac(b: BondState) -> Finding:
    if b.fail_over_mac != "active":
        return Finding("fail-over-mac", Status.FAIL, f"fail_over_mac={b.fail_over_mac}: after a failover the VF "
                       "sends with the other VF's MAC and spoof-check drops it",
                       "set fail_over_mac: active and run bondctl apply (vfbondd re-enslaves the VFs)")
    changed = [s for s in b.slaves if s.mac_changed]
    if changed:
        s = changed[0]
        return Finding("fail-over-mac", Status.FAIL, f"{s.name} carries {s.link.mac}, not its own {s.perm_mac}",
                       f"restore it: ip link set {s.name} address {s.perm_mac}")
    return Finding("fail-over-mac", Status.PASS, "fail_over_mac=active: each VF keeps its own MAC")


def _check_mtu(b: BondState) -> Finding:
    odd = [f"{s.name} {s.link.mtu}" for s in b.slaves if s.link.mtu != b.link.mtu]
    if odd:
        return Finding("mtu", Status.FAIL, f"{b.name} has MTU {b.link.mtu} but {', '.join(odd)}: after a failover "
                       "larger frames are dropped", f"ip link set {b.name} mtu {b.link.mtu} (sets every slave), "
                       "or bond.mtu in the config")
    return Finding("mtu", Status.PASS, f"MTU {b.link.mtu} on {b.name} and its slaves")


def _check_monitoring(b: BondState) -> Finding:
    if b.arp_interval:
        return Finding("monitoring", Status.WARN, f"kernel ARP monitoring is on (arp_interval={b.arp_interval}), "
                       "which turns MII monitoring off", "set arp_interval=0 and let vfbondd probe (probes.enabled)")
    if not b.miimon:
        return Finding("monitoring", Status.FAIL, "miimon=0 and no ARP monitoring: the kernel never notices a "
                       "dead VF", "set bond.miimon: 100 and run bondctl apply")
    return Finding("monitoring", Status.PASS, f"miimon {b.miimon} ms, arp_interval 0")


def _check_addresses(facts: Facts, b: BondState) -> Finding:
    on_slaves = {name: addrs for name, addrs in facts.slave_addresses.items() if addrs}
    if on_slaves:
        name, addrs = next(iter(on_slaves.items()))
        return Finding("addresses", Status.FAIL, f"addresses on slave {name}: {', '.join(addrs)}: traffic to them "
                       "does not survive a failover", f"ip addr flush dev {name}; the addresses belong on {b.name}")
    return Finding("addresses", Status.PASS, f"{', '.join(b.addresses) or 'no addresses'} on {b.name}, "
                   "none on the slaves")


def _check_drift(facts: Facts) -> Finding | None:
    if facts.config is None or facts.bond is None:
        return None
    try:
        changes = diff(build(facts.config.bond, facts.links, facts.bond), facts.bond)
    except PlanError:
        return None  # a missing VF: the slaves check says so
    if changes:
        return Finding("drift", Status.WARN, f"{facts.bond.name} differs from {facts.config_path}: "
                       + "; ".join(str(c) for c in changes), "bondctl reload (or bondctl apply without vfbondd)")
    return Finding("drift", Status.PASS, f"{facts.bond.name} matches {facts.config_path}")


def _check_managers(facts: Facts) -> Finding | None:
    name = facts.bond_name
    if facts.ifcfg_nm_controlled is False and facts.nm_bond == "active":
        return Finding("managers", Status.FAIL, f"two managers for {name}: initscripts (ifcfg-{name} has "
                       "NM_CONTROLLED=no) and NetworkManager (a connection is active on it); each undoes the other",
                       f"keep one: delete the NetworkManager profile on {name} (nmcli connection delete ...), or "
                       f"remove ifcfg-{name} and let vfbondd write it again")
    if facts.nm_bond == "active":
        nm = f"NetworkManager {facts.nm_version}" if facts.nm_version else "NetworkManager"
        return Finding("managers", Status.PASS, f"{nm} manages {name}"
                       + (f" (from ifcfg-{name})" if facts.ifcfg_nm_controlled else ""))
    if facts.ifcfg_nm_controlled is not None:
        return Finding("managers", Status.PASS, f"ifcfg-{name} describes {name}"
                       + ("" if facts.nm_running else " (NetworkManager not running)"))
    if facts.bond is not None:
        return Finding("managers", Status.PASS, f"only vfbondd manages {name} (netlink): nothing persists it, "
                       "vfbondd re-creates it at boot")
    return None


def _check_mac_lock(facts: Facts) -> Finding | None:
    """From vfbondd's MAC-lock probes and the kernel's refusals: a locked VF needs fail_over_mac=active."""
    vf = facts.daemon.get("vf") if facts.daemon else None
    probed = {name: info["mac_lock"] for name, info in (vf["slaves"] if vf else {}).items() if "mac_lock" in info}
    merged: dict[str, DescribedLock] = {**facts.kernel_locks, **probed}  # vfbondd's probe is newer than any log line
    locks = sorted((name, lock) for name, lock in merged.items() if lock["state"] != "unknown")
    if not locks:
        return None  # nothing known: vfbondd is not running, or has no backup it could probe yet
    locked = [(name, lock) for name, lock in locks if lock["state"] == "locked"]
    if not locked:
        return Finding("mac-lock", Status.PASS, "; ".join(lock["text"] for _, lock in locks))
    fom = facts.bond.fail_over_mac if facts.bond else (facts.config.bond.fail_over_mac if facts.config else None)
    text = "; ".join(lock["text"] for _, lock in locked)
    if fom != "active":
        return Finding("mac-lock", Status.FAIL, f"{text}, and fail_over_mac={fom}: the bond cannot give it "
                       "another MAC, so enslaving or failover fails",
                       f"fail_over_mac: active, or `ip link set <pf> vf N trust on` on the host for {locked[0][0]}")
    return Finding("mac-lock", Status.PASS, f"{text}; fail_over_mac=active, so no MAC has to change")


def _check_kernel_messages(facts: Facts) -> Finding | None:
    """The VF drivers' and bonding's lines vfbondd read: the newest that needs the host, with what to do there."""
    vf = facts.daemon.get("vf") if facts.daemon else None
    if vf is None:
        return None
    kmsg = vf.get("kmsg")
    if kmsg and kmsg.get("error"):
        return Finding("kernel-log", Status.WARN, f"vfbondd cannot read the kernel log ({kmsg['error']}): "
                       "PF resets and refused MACs reported by the VF driver go unseen",
                       "run vfbondd as root with CAP_SYSLOG and /dev/kmsg, as the shipped unit does")
    recent = sorted((line["time"], name, line) for name, info in vf["slaves"].items()
                    for line in info.get("kernel", [])
                    if line["kind"] in ALERT_KINDS and facts.now - line["time"] < KERNEL_RECENT_S)
    if not recent:
        return Finding("kernel-log", Status.PASS, f"no VF driver or bonding line needing the host in the last "
                       f"{KERNEL_RECENT_S // 60} minutes")
    when, name, line = recent[-1]
    more = f" (and {len(recent) - 1} more)" if len(recent) > 1 else ""
    return Finding("kernel-log", Status.WARN, f"{name}, {facts.now - when:.0f}s ago: {line['line']}{more}",
                   line["hint"])


def _check_path_monitoring(facts: Facts) -> Finding | None:
    if facts.config is None:
        return None
    probes = facts.config.probes
    if not probes.enabled:
        return Finding("path-probes", Status.WARN, "probes off: a dead path with carrier up (forced link state, "
                       "upstream failure) goes unnoticed", "enable probes: probes.enabled: true, "
                       "probes.targets: [<gateway>]")
    return Finding("path-probes", Status.PASS, f"probes of {', '.join(probes.targets)} on each VF catch a dead "
                   "path with carrier up")


def _check_daemon(facts: Facts) -> list[Finding]:
    if facts.daemon is None:
        found = [Finding("daemon", Status.FAIL, f"vfbondd is not running ({facts.daemon_error}): no fast failover, "
                         "no events or alerts", f"systemctl enable --now {UNIT}")]
    else:
        d = facts.daemon.get("daemon", {})
        version = f" ({d['backend_version']})" if d.get("backend_version") else ""
        found = [Finding("daemon", Status.PASS, f"vfbondd {d.get('version')} running (pid {d.get('pid')}), "
                         f"backend {d.get('backend')}{version}")]
        if facts.config is not None and d.get("config") and Path(d["config"]).resolve() != \
                Path(facts.config_path).resolve():
            found.append(Finding("daemon-config", Status.WARN, f"vfbondd runs {d['config']}, not "
                                 f"{facts.config_path}", f"check which file is meant; vfbondd --config {d['config']}"))
    if facts.unit_enabled is False:
        found.append(Finding("boot", Status.WARN, f"{UNIT} is not enabled: after a reboot nothing creates or "
                             f"supervises {facts.bond_name}", f"systemctl enable {UNIT}"))
    return found


def check(facts: Facts) -> list[Finding]:
    """Every finding for these facts, in the order an operator reads them."""
    vfs = slaves(facts)
    found: list[Finding | None] = [_check_config(facts), *_check_config_warnings(facts), _check_bond(facts)]
    if vfs or facts.config is not None:
        found += [_check_slaves(facts, vfs), _check_distinct_macs(vfs), _check_redundancy(vfs)]
    found += check_standby(facts)
    b = facts.bond
    if b is not None:
        found += [_check_fail_over_mac(b), _check_mtu(b), _check_monitoring(b), _check_addresses(facts, b)]
    found += [_check_mac_lock(facts), _check_kernel_messages(facts), _check_path_monitoring(facts)]
    found += [_check_drift(facts), _check_managers(facts), *_check_daemon(facts)]
    return [f for f in found if f is not None]


def exit_code(findings: list[Finding]) -> int:
    statuses = {f.status for f in findings}
    if Status.FAIL in statuses:
        return exitcodes.FAILED
    return exitcodes.DEGRADED if Status.WARN in statuses else exitcodes.OK


# --- the command -----------------------------------------------------------------------------

def cmd_doctor(args: argparse.Namespace) -> int:
    findings = check(gather(args.config, args.bond, args.socket))
    code = exit_code(findings)
    counts = {s: sum(f.status is s for f in findings) for s in Status}
    if args.json:
        print(json.dumps({"findings": [asdict(f) for f in findings], "passed": counts[Status.PASS],
                          "warnings": counts[Status.WARN], "failures": counts[Status.FAIL], "exit_code": code},
                         indent=2, default=str))
        return code
    for f in findings:
        print(f"{f.status.value:<5} {f.check:<14} {f.message}")
        if f.fix:
            print(f"{'':20} fix: {f.fix}")
    print(f"doctor: {counts[Status.PASS]} passed, {counts[Status.WARN]} warnings, {counts[Status.FAIL]} failed")
    return code


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", default=str(config_mod.DEFAULT_PATH), help="config file (default: %(default)s)")
