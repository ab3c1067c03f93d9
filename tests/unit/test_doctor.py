"""bondctl doctor's rules: facts in, findings out (no kernel, no bus, no socket)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from vfbond.config import load, parse
from vfbond.ctl.doctor import Facts, Finding, Status, check, exit_code
from vfbond.kernel.bond_state import BondState, LinkInfo, SlaveState
from vfbond.shared import exitcodes

EXAMPLE = Path(__file__).parents[2] / "examples" / "vfbond.yaml"
MACS = ("fa:16:3e:00:00:01", "fa:16:3e:00:00:02")
WITH_PROBES = parse(EXAMPLE.read_text().replace("enabled: false", "enabled: true"), str(EXAMPLE))


def vf(i: int, **kw: Any) -> LinkInfo:
    return replace(LinkInfo(index=10 + i, name=f"ens{6 + i}", mac=MACS[i], perm_mac=MACS[i], kind=None, master=100,
                            carrier=True, operstate="UP", mtu=1500, driver="iavf",
                            pci_address=f"0000:00:0{5 + i}.0"), **kw)


def bond(slaves: list[LinkInfo], **kw: Any) -> BondState:
    state = BondState(
        link=LinkInfo(index=100, name="bond0", mac=MACS[0], perm_mac=None, kind="bond", master=None, carrier=True,
                      operstate="UP", mtu=1500),
        mode="active-backup", active_slave=slaves[0].name if slaves else None, miimon=100, updelay=0, downdelay=0,
        fail_over_mac="active", primary=slaves[0].name if slaves else None, primary_reselect="failure",
        arp_interval=0, arp_ip_targets=[], num_peer_notif=1,
        slaves=[SlaveState(link=s, state="active" if n == 0 else "backup", mii_status="up", link_failure_count=0,
                           perm_mac=s.perm_mac) for n, s in enumerate(slaves)],
        addresses=["192.0.2.10/24", "2001:db8::10/64"])
    return replace(state, **kw)


def healthy(**kw: Any) -> Facts:
    vfs = [vf(0), vf(1)]
    facts = Facts(config_path=str(EXAMPLE), config=WITH_PROBES, config_problems=[], bond_name="bond0",
                  bond=bond(vfs), links=vfs, slave_addresses={"ens6": [], "ens7": []},
                  daemon={"daemon": {"pid": 42, "version": "0.1.0", "config": str(EXAMPLE), "backend": "nm"}},
                  daemon_error=None, nm_running=True, nm_bond="active", ifcfg_nm_controlled=None, unit_enabled=True)
    return replace(facts, **kw)


def by_check(facts: Facts) -> dict[str, Finding]:
    return {f.check: f for f in check(facts)}


def test_a_healthy_vm_passes_everything() -> None:
    found = check(healthy())
    assert [f.check for f in found if f.status is not Status.PASS] == []
    assert {f.check for f in found} >= {"config", "bond", "slaves", "distinct-macs", "redundancy", "fail-over-mac",
                                        "mtu", "monitoring", "addresses", "drift", "managers", "daemon"}
    assert exit_code(found) == exitcodes.OK
    assert by_check(healthy())["slaves"].message == "sriov0 = ens6, sriov1 = ens7, both in bond0"


def test_a_missing_vf_fails_with_its_mac_and_a_fix() -> None:
    f = by_check(healthy(links=[vf(0)], bond=bond([vf(0)])))["slaves"]
    assert f.status is Status.FAIL and "sriov1 (mac fa:16:3e:00:00:02)" in f.message and "Neutron" in f.fix


def test_a_vf_outside_the_bond_fails() -> None:
    loose = vf(1, master=None)
    f = by_check(healthy(links=[vf(0), loose], bond=bond([vf(0)])))["slaves"]
    assert f.status is Status.FAIL and f.message == "ens7 not enslaved to bond0"


def test_shared_mac_fails() -> None:
    twin = vf(1, mac=MACS[0], perm_mac=MACS[0])
    # found by name, since the config's MAC for sriov1 is gone
    facts = healthy(config=parse(EXAMPLE.read_text().replace(MACS[1], MACS[0]).replace(
        f"mac: {MACS[0]}\n", "name: ens6\n", 1).replace(f"mac: {MACS[0]}\n", "name: ens7\n", 1)),
        links=[vf(0), twin], bond=bond([vf(0), twin]))
    f = by_check(facts)["distinct-macs"]
    assert f.status is Status.FAIL and MACS[0] in f.message


def test_redundancy_from_pf_then_numa_then_what_cannot_be_seen() -> None:
    def redundancy(a: LinkInfo, b: LinkInfo) -> Finding:
        return by_check(healthy(links=[a, b], bond=bond([a, b])))["redundancy"]

    same_pf = redundancy(vf(0, pf_address="0000:3b:00.0"), vf(1, pf_address="0000:3b:00.0"))
    assert same_pf.status is Status.WARN and "0000:3b:00.0" in same_pf.message
    assert exit_code(check(healthy(links=[vf(0, pf_address="p"), vf(1, pf_address="p")],
                                   bond=bond([vf(0, pf_address="p"), vf(1, pf_address="p")])))) == exitcodes.DEGRADED
    assert redundancy(vf(0, pf_address="0000:3b:00.0"), vf(1, pf_address="0000:af:00.0")).status is Status.PASS
    numa = redundancy(vf(0, numa_node=0), vf(1, numa_node=1))
    assert numa.status is Status.PASS and "NUMA nodes 0, 1" in numa.message
    unseen = redundancy(vf(0), vf(1))
    assert unseen.status is Status.PASS and "not visible" in unseen.message


def test_fail_over_mac_none_and_a_rewritten_slave_mac_fail() -> None:
    assert by_check(healthy(bond=bond([vf(0), vf(1)], fail_over_mac="none")))["fail-over-mac"].status is Status.FAIL
    rewritten = vf(1, mac=MACS[0])
    f = by_check(healthy(links=[vf(0), rewritten], bond=bond([vf(0), rewritten])))["fail-over-mac"]
    assert f.status is Status.FAIL and f.fix == f"restore it: ip link set ens7 address {MACS[1]}"


def test_mtu_mismatch_between_bond_and_a_slave_fails() -> None:
    small = vf(1, mtu=1400)
    f = by_check(healthy(links=[vf(0), small], bond=bond([vf(0), small])))["mtu"]
    assert f.status is Status.FAIL and "ens7 1400" in f.message


def test_monitoring_arp_warns_and_none_fails() -> None:
    vfs = [vf(0), vf(1)]
    assert by_check(healthy(bond=bond(vfs, arp_interval=200)))["monitoring"].status is Status.WARN
    assert by_check(healthy(bond=bond(vfs, miimon=0)))["monitoring"].status is Status.FAIL


def test_an_address_on_a_slave_fails_and_names_it() -> None:
    f = by_check(healthy(slave_addresses={"ens6": [], "ens7": ["198.51.100.7/24"]}))["addresses"]
    assert f.status is Status.FAIL and "ens7" in f.message and f.fix.startswith("ip addr flush dev ens7")


def test_drift_from_the_config_warns() -> None:
    f = by_check(healthy(bond=bond([vf(0), vf(1)], miimon=1000)))["drift"]
    assert f.status is Status.WARN and "miimon" in f.message and "bondctl reload" in f.fix


def test_initscripts_and_networkmanager_both_managing_fails() -> None:
    f = by_check(healthy(ifcfg_nm_controlled=False, nm_bond="active"))["managers"]
    assert f.status is Status.FAIL and "NM_CONTROLLED=no" in f.message
    assert by_check(healthy(ifcfg_nm_controlled=True, nm_bond="active"))["managers"].status is Status.PASS
    assert by_check(healthy(ifcfg_nm_controlled=False, nm_running=False, nm_bond=None))["managers"].status \
        is Status.PASS


def test_the_networkmanager_version_is_shown() -> None:
    assert by_check(healthy(nm_version="1.52.1"))["managers"].message == "NetworkManager 1.52.1 manages bond0"
    daemon = {"daemon": {"pid": 42, "version": "0.1.0", "config": str(EXAMPLE), "backend": "auto: NM on the bus",
                         "backend_version": "NetworkManager 1.46.0"}}
    assert by_check(healthy(daemon=daemon))["daemon"].message.endswith(
        "backend auto: NM on the bus (NetworkManager 1.46.0)")


def test_no_daemon_fails_and_not_enabled_warns() -> None:
    found = by_check(healthy(daemon=None, daemon_error="no socket at /run/vfbond/control.sock", unit_enabled=False))
    assert found["daemon"].status is Status.FAIL and found["daemon"].fix == "systemctl enable --now vfbondd.service"
    assert found["boot"].status is Status.WARN
    assert "boot" not in by_check(healthy(unit_enabled=None))  # no systemd: nothing to say


def test_daemon_on_another_config_warns() -> None:
    other = {"daemon": {"pid": 1, "version": "0.1.0", "config": "/tmp/other.yaml", "backend": "netlink"}}
    assert by_check(healthy(daemon=other))["daemon-config"].status is Status.WARN


def test_invalid_config_fails_but_the_kernel_bond_is_still_checked() -> None:
    facts = healthy(config=None, config_problems=["vfbond.yaml:3: bond.slaves: ... Fix: ..."])
    found = by_check(facts)
    assert found["config"].status is Status.FAIL and "check-config" in found["config"].fix
    assert found["slaves"].status is Status.PASS and found["fail-over-mac"].status is Status.PASS
    assert "drift" not in found


def test_no_bond_fails_and_skips_what_needs_one() -> None:
    found = by_check(healthy(bond=None, links=[replace(vf(0), master=None), replace(vf(1), master=None)]))
    assert found["bond"].status is Status.FAIL and "systemctl start vfbondd" in found["bond"].fix
    assert found["slaves"].status is Status.PASS and "mtu" not in found
    assert exit_code(list(found.values())) == exitcodes.FAILED


def locked(state: str = "locked") -> dict[str, Any]:
    text = {"locked": "sriov1: MAC locked by the host (untrusted VF): refused a MAC change (EADDRNOTAVAIL)",
            "unlocked": "sriov1: MAC not locked: accepted a MAC change"}[state]
    return {"daemon": {"pid": 42, "version": "0.1.0", "config": str(EXAMPLE), "backend": "nm"},
            "vf": {"slaves": {"ens7": {"mac_lock": {"state": state, "text": text}}}}}


def test_a_mac_locked_vf_passes_with_fail_over_mac_active_and_fails_without() -> None:
    ok = by_check(healthy(daemon=locked()))["mac-lock"]
    assert ok.status is Status.PASS and ok.message.startswith("sriov1: MAC locked by the host (untrusted VF)")
    f = by_check(healthy(daemon=locked(), bond=bond([vf(0), vf(1)], fail_over_mac="follow")))["mac-lock"]
    assert f.status is Status.FAIL and "fail_over_mac=follow" in f.message
    assert f.fix == "fail_over_mac: active, or `ip link set <pf> vf N trust on` on the host for ens7"
    assert by_check(healthy(daemon=locked("unlocked")))["mac-lock"].status is Status.PASS
    assert "mac-lock" not in by_check(healthy())  # vfbondd has not probed (or is not running): nothing to say


def test_without_probes_doctor_warns_that_the_path_is_unmonitored() -> None:
    f = by_check(healthy(config=load(EXAMPLE)))["path-probes"]  # the example ships with probes off
    assert f.status is Status.WARN
    assert f.message == ("probes off: a dead path with carrier up (forced link state, upstream failure) goes "
                         "unnoticed")
    assert "probes.enabled: true" in f.fix
    assert by_check(healthy())["path-probes"].status is Status.PASS


def with_vf(vf: dict[str, Any]) -> dict[str, Any]:
    return {"daemon": {"pid": 42, "version": "0.1.0", "config": str(EXAMPLE), "backend": "nm"}, "vf": vf}


def test_a_recent_vf_driver_line_warns_with_the_host_side_hint_and_an_old_one_does_not() -> None:
    line = {"time": 1000.0, "kind": "pf_resetting", "line": "igbvf 0000:01:10.0: PF still resetting",
            "hint": "check the PF on the host (`ip link show <pf>`)"}
    up = {**line, "time": 1010.0, "kind": "link_up", "line": "igbvf 0000:01:10.0 ens6: Link is Up", "hint": ""}
    vf = {"slaves": {"ens6": {"kernel": [line, up]}}, "kmsg": {"error": None}}
    f = by_check(healthy(daemon=with_vf(vf), now=1100.0))["kernel-log"]
    assert f.status is Status.WARN and f.message == "ens6, 100s ago: igbvf 0000:01:10.0: PF still resetting"
    assert f.fix == "check the PF on the host (`ip link show <pf>`)"  # link_up needs nothing: not shown
    assert by_check(healthy(daemon=with_vf(vf), now=5000.0))["kernel-log"].status is Status.PASS
    blind = by_check(healthy(daemon=with_vf({"slaves": {}, "kmsg": {"error": "/dev/kmsg: Permission denied"}})))
    assert blind["kernel-log"].status is Status.WARN and "CAP_SYSLOG" in blind["kernel-log"].fix
    assert "kernel-log" not in by_check(healthy())  # a vfbondd without the VF watch, or none


def test_a_mac_refusal_still_in_the_kernel_log_counts_without_vfbondd_and_a_probe_overrides_it() -> None:
    refused = {"ens7": {"state": "locked", "text": "sriov1: MAC locked by the host (untrusted VF): the kernel "
                                                   "logged 'bond0: (slave ens7): Error -99 calling set_mac_address'"}}
    f = by_check(healthy(daemon=None, daemon_error="no socket", kernel_locks=refused,
                         bond=bond([vf(0), vf(1)], fail_over_mac="none")))["mac-lock"]
    assert f.status is Status.FAIL and "Error -99 calling set_mac_address" in f.message
    assert "fail_over_mac=none" in f.message and "trust on" in f.fix
    probed = by_check(healthy(daemon=locked("unlocked"), kernel_locks=refused))["mac-lock"]
    assert probed.status is Status.PASS and probed.message == "sriov1: MAC not locked: accepted a MAC change"


def test_a_probe_that_could_not_tell_says_nothing() -> None:
    daemon = locked()
    daemon["vf"]["slaves"]["ens7"]["mac_lock"] = {"state": "unknown", "text": "sriov1: MAC lock unknown: EBUSY"}
    assert "mac-lock" not in by_check(healthy(daemon=daemon))


def test_a_bond_missing_for_want_of_its_driver_names_the_driver() -> None:
    """Starting vfbondd cannot create a bond without the bonding driver: the fix is modprobe."""
    found = by_check(healthy(bond=None, bonding_driver=False))["bond"]
    assert found.status is Status.FAIL and "the bonding driver is not loaded" in found.message
    assert found.fix.startswith("modprobe bonding") and "modules-load.d" in found.fix
    assert "systemctl start" in by_check(healthy(bond=None))["bond"].fix  # loaded: vfbondd creates the bond
