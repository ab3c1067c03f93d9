"""NM profile construction, comparison and merging for the nm backend (pure: no D-Bus, no NM)."""

from __future__ import annotations

import copy

from vfbond.backends import nm_settings as ns
from vfbond.bond_model import BondPlan, SlaveBinding
from vfbond.config import IPConfig

MAC0, MAC1 = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02"


def make_plan(**kw) -> BondPlan:
    base = dict(name="bond0", miimon=100, updelay=0, downdelay=0, fail_over_mac="active", primary="vf0",
                primary_reselect="failure", num_peer_notif=1,
                slaves=(SlaveBinding("sriov0", "vf0", MAC0), SlaveBinding("sriov1", "vf1", MAC1)),
                ipv4=IPConfig(("192.0.2.10/24",), "192.0.2.1"), ipv6=IPConfig(("2001:db8::10/64",), "2001:db8::1"),
                mtu=None)
    base.update(kw)
    return BondPlan(**base)


def identity(_section, _key, value):
    return value


def as_nm_returns(profile: ns.Profile, uuid="u-1") -> ns.Settings:
    """What GetSettings gives back for a profile vfbond added: MACs as bytes, unset keys left out."""
    out = copy.deepcopy(ns.new_settings(profile, uuid, identity))
    wired = out.get(ns.WIRED, {})
    if "mac-address" in wired:
        wired["mac-address"] = ns.mac_bytes(wired["mac-address"])
    return out


# --- building -----------------------------------------------------------------------------------

def test_bond_profile_carries_the_plan():
    p = ns.bond_profile(make_plan())
    s = p.settings
    assert p.is_bond and p.id == "bond0" and p.device == "bond0"
    assert s["connection"] == {"type": "bond", "interface-name": "bond0", "autoconnect": True,
                               "autoconnect-slaves": 1}
    assert s["bond"]["options"] == {"mode": "active-backup", "miimon": "100", "updelay": "0", "downdelay": "0",
                                    "fail_over_mac": "active", "primary_reselect": "failure",
                                    "num_grat_arp": "1", "primary": "vf0"}
    assert s["ipv4"] == {"method": "manual", "address-data": [{"address": "192.0.2.10", "prefix": 24}],
                         "gateway": "192.0.2.1"}
    assert s["ipv6"] == {"method": "manual", "address-data": [{"address": "2001:db8::10", "prefix": 64}],
                         "gateway": "2001:db8::1"}
    # the bond follows the active VF's MAC: no cloned MAC, and no MTU unless the plan has one
    assert s[ns.WIRED] == {"cloned-mac-address": None, "assigned-mac-address": None}


def test_absent_address_family_is_disabled_and_mtu_is_owned_when_planned():
    s = ns.bond_profile(make_plan(ipv6=IPConfig(), mtu=9000)).settings
    assert s["ipv6"] == {"method": "disabled", "address-data": [], "gateway": None}
    assert s[ns.WIRED]["mtu"] == 9000


def test_port_profile_matches_the_vf_by_mac_only():
    plan = make_plan()
    p = ns.port_profile(plan, plan.slaves[1])
    assert (p.role, p.id, p.device, p.mac) == ("sriov1", "bond0-sriov1", "vf1", MAC1)
    assert p.settings["connection"] == {"type": "802-3-ethernet", "master": "bond0", "slave-type": "bond",
                                        "interface-name": None, "autoconnect": True}
    assert p.settings[ns.WIRED] == {"mac-address": MAC1, "cloned-mac-address": None, "assigned-mac-address": None}


def test_new_settings_leave_unset_keys_out_and_get_id_and_uuid():
    plan = make_plan()
    body = ns.new_settings(ns.port_profile(plan, plan.slaves[0]), "u-7", identity)
    assert body["connection"]["id"] == "bond0-sriov0" and body["connection"]["uuid"] == "u-7"
    assert "interface-name" not in body["connection"]
    assert body[ns.WIRED] == {"mac-address": MAC0}
    bond = ns.new_settings(ns.bond_profile(plan), "u-8", identity)
    assert ns.WIRED not in bond  # nothing to set there: the section is not created


def test_every_written_key_has_a_signature():
    plan = make_plan(mtu=1500)
    for profile in ns.profiles(plan):
        for section, keys in ns.new_settings(profile, "u", identity).items():
            for key in keys:
                assert (section, key) in ns.SIGNATURES, (section, key)


# --- comparing ----------------------------------------------------------------------------------

def test_a_profile_as_nm_returns_it_has_no_differences():
    plan = make_plan()
    for profile in ns.profiles(plan):
        assert ns.differences(profile, as_nm_returns(profile), {"bond0"}) == []


def test_nm_leaving_out_defaults_is_not_a_difference():
    profile = ns.bond_profile(make_plan())
    existing = as_nm_returns(profile)
    del existing["connection"]["autoconnect"]  # default true: GetSettings omits it
    existing["bond"]["options"] = {k: v for k, v in existing["bond"]["options"].items()
                                   if k not in ("updelay", "downdelay", "num_grat_arp")}
    assert ns.differences(profile, existing) == []


def test_seed_nmcli_bond_differences():
    """The seed's day0 profile: mode=active-backup,miimon=1000,fail_over_mac=1, DHCP, no autoconnect-slaves."""
    profile = ns.bond_profile(make_plan())
    seed = {"connection": {"id": "bond0", "uuid": "s-1", "type": "bond", "interface-name": "bond0"},
            "bond": {"options": {"mode": "active-backup", "miimon": "1000", "fail_over_mac": "1"}},
            "ipv4": {"method": "auto", "address-data": [], "addresses": []},
            "ipv6": {"method": "auto", "addr-gen-mode": 1}}
    found = {d.field: (d.current, d.desired) for d in ns.differences(profile, seed)}
    assert found["bond.options.miimon"] == ("1000", "100")
    assert "bond.options.fail_over_mac" not in found  # "1" is "active"
    assert found["bond.options.primary_reselect"] == ("always", "failure")
    assert found["bond.options.primary"] == (None, "vf0")
    assert found["connection.autoconnect-slaves"] == (-1, 1)
    assert found["ipv4.method"] == ("auto", "manual")
    assert found["ipv4.address-data"] == ([], ["192.0.2.10/24"])
    assert found["ipv4.gateway"] == (None, "192.0.2.1")
    assert found["ipv6.method"] == ("auto", "manual")
    assert "connection.interface-name" not in found


def test_one_option_changed_is_one_difference():
    old = as_nm_returns(ns.bond_profile(make_plan(miimon=100)))
    diffs = ns.differences(ns.bond_profile(make_plan(miimon=200)), old)
    assert [str(d) for d in diffs] == ["bond.options.miimon: '100' -> '200'"]


def test_extra_option_in_profile_is_a_difference():
    profile = ns.bond_profile(make_plan())
    existing = as_nm_returns(profile)
    existing["bond"]["options"]["arp_interval"] = "1000"
    existing["bond"]["options"]["num_unsol_na"] = "3"
    found = {d.field for d in ns.differences(profile, existing)}
    assert found == {"bond.options.arp_interval", "bond.options.num_unsol_na"}


def test_numeric_enum_spellings_equal_names():
    assert ns.bond_options({"mode": "1", "fail_over_mac": "1", "primary_reselect": "2"}) == \
        ns.bond_options({"mode": "active-backup", "fail_over_mac": "active", "primary_reselect": "failure"})


def test_addresses_compare_by_value():
    profile = ns.bond_profile(make_plan(ipv6=IPConfig(("2001:db8:0::10/64",), "2001:0db8::1")))
    existing = as_nm_returns(profile)
    existing["ipv6"]["address-data"] = [{"address": "2001:db8::10", "prefix": 64}]
    existing["ipv6"]["gateway"] = "2001:db8::1"
    assert ns.differences(profile, existing) == []


def test_seed_port_by_name_is_a_difference_and_master_aliases_are_equal():
    plan = make_plan()
    profile = ns.port_profile(plan, plan.slaves[0])
    seed_port = {"connection": {"id": "bond0-port1", "uuid": "p-1", "type": "802-3-ethernet",
                                "interface-name": "vf0", "master": "s-1", "slave-type": "bond"},
                 ns.WIRED: {"auto-negotiate": False}}
    diffs = {d.field: (d.current, d.desired) for d in ns.differences(profile, seed_port, {"bond0", "s-1"})}
    assert diffs == {"connection.interface-name": ("vf0", None), "802-3-ethernet.mac-address": (None, MAC0)}
    # a master naming something else is a difference
    other = copy.deepcopy(seed_port)
    other["connection"]["master"] = "bond9"
    assert "connection.master" in {d.field for d in ns.differences(profile, other, {"bond0", "s-1"})}


def test_cloned_mac_on_a_port_is_a_difference():
    plan = make_plan()
    profile = ns.port_profile(plan, plan.slaves[0])
    existing = as_nm_returns(profile)
    existing[ns.WIRED]["cloned-mac-address"] = ns.mac_bytes("fa:16:3e:99:99:99")
    existing[ns.WIRED]["assigned-mac-address"] = "fa:16:3e:99:99:99"
    found = {str(d) for d in ns.differences(profile, existing)}
    assert found == {"802-3-ethernet.cloned-mac-address: 'fa:16:3e:99:99:99' -> (unset)",
                     "802-3-ethernet.assigned-mac-address: 'fa:16:3e:99:99:99' -> (unset)"}


def test_nm_146_spellings_are_read():
    plan = make_plan()
    profile = ns.port_profile(plan, plan.slaves[0])
    existing = as_nm_returns(profile)
    conn = existing["connection"]
    conn["controller"], conn["port-type"] = conn.pop("master"), conn.pop("slave-type")
    assert ns.differences(profile, existing, {"bond0"}) == []


# --- merging ------------------------------------------------------------------------------------

def test_merge_keeps_foreign_keys_replaces_owned_and_drops_shadowing_ones():
    plan = make_plan()
    profile = ns.bond_profile(plan)
    existing = {"connection": {"id": "bond0", "uuid": "s-1", "type": "bond", "interface-name": "bond0",
                               "zone": "trusted", "autoconnect-ports": -1},
                "bond": {"options": {"mode": "active-backup", "miimon": "1000", "fail_over_mac": "1"}},
                "ipv4": {"method": "auto", "addresses": [[1, 2, 3]], "dns": [16843009]},
                "ipv6": {"method": "auto"},
                ns.WIRED: {"cloned-mac-address": b"\x01" * 6, "assigned-mac-address": "01:01:01:01:01:01",
                           "mtu": 1400}}
    before = copy.deepcopy(existing)
    out = ns.merge(existing, profile, identity)
    assert existing == before  # input untouched
    assert out["connection"]["id"] == "bond0" and out["connection"]["uuid"] == "s-1"
    assert out["connection"]["zone"] == "trusted"
    assert "autoconnect-ports" not in out["connection"] and out["connection"]["autoconnect-slaves"] == 1
    assert out["bond"]["options"] == plan.options()
    assert "addresses" not in out["ipv4"] and out["ipv4"]["dns"] == [16843009]
    assert out["ipv4"]["address-data"] == [{"address": "192.0.2.10", "prefix": 24}]
    assert out[ns.WIRED] == {"mtu": 1400}  # plan has no MTU: the operator's stays
    # and the result compares equal
    merged_plain = copy.deepcopy(out)
    assert ns.differences(profile, merged_plain) == []


def test_merge_removes_interface_name_from_a_port_and_switches_controller_spelling():
    plan = make_plan()
    profile = ns.port_profile(plan, plan.slaves[0])
    existing = {"connection": {"id": "p", "type": "802-3-ethernet", "interface-name": "vf0",
                               "controller": "bond0", "port-type": "bond"}}
    out = ns.merge(existing, profile, identity)
    assert out["connection"] == {"id": "p", "type": "802-3-ethernet", "master": "bond0", "slave-type": "bond",
                                 "autoconnect": True}
    assert out[ns.WIRED] == {"mac-address": MAC0}


# --- finding ------------------------------------------------------------------------------------

def test_matches_vf():
    by_mac = {"connection": {}, ns.WIRED: {"mac-address": ns.mac_bytes(MAC0)}}
    by_name = {"connection": {"interface-name": "vf0"}}
    stale = {"connection": {"interface-name": "ens3"}, ns.WIRED: {"mac-address": ns.mac_bytes(MAC0)}}
    assert ns.matches_vf(by_mac, MAC0, "vf9")
    assert not ns.matches_vf(by_mac, MAC1, "vf0")
    assert ns.matches_vf(by_name, MAC0, "vf0") and not ns.matches_vf(by_name, MAC0, "vf1")
    assert ns.matches_vf(stale, MAC0, "vf0")  # the VF came back under another name
    assert not ns.matches_vf({"connection": {}}, MAC0, "vf0")


def test_finding_bond_and_ports():
    bond = {"connection": {"id": "bond0", "uuid": "s-1", "type": "bond", "interface-name": "bond0"}}
    assert ns.is_bond_for(bond, "bond0") and not ns.is_bond_for(bond, "bond1")
    aliases = ns.bond_aliases("bond0", bond)
    assert aliases == {"bond0", "s-1"}
    port = {"connection": {"type": "802-3-ethernet", "master": "s-1", "slave-type": "bond"}}
    assert ns.is_port_of(port, aliases)
    assert not ns.is_port_of({"connection": {"type": "802-3-ethernet"}}, aliases)


def test_choose_prefers_active_then_most_recent():
    a = ("/a", {"connection": {"uuid": "a", "timestamp": 100}})
    b = ("/b", {"connection": {"uuid": "b", "timestamp": 200}})
    c = ("/c", {"connection": {"uuid": "c"}})
    assert ns.choose([a, b, c], "a")[0] == "/a"
    assert ns.choose([a, b, c], None)[0] == "/b"
    assert ns.choose([], None) is None


def test_mac_forms():
    assert ns.mac_str(b"\xfa\x16\x3e\x00\x00\x01") == MAC0
    assert ns.mac_str([250, 22, 62, 0, 0, 1]) == MAC0
    assert ns.mac_str("FA:16:3E:00:00:01") == MAC0
    assert ns.mac_str(b"") is None
    assert ns.mac_bytes(MAC0) == b"\xfa\x16\x3e\x00\x00\x01"


def test_respell_keeps_the_seed_spelling_of_equal_options():
    """NM refuses to reapply fail_over_mac "1" -> "active" (it compares strings): keep "1"."""
    profile = ns.bond_profile(make_plan())
    seed = {"bond": {"options": {"mode": "active-backup", "miimon": "1000", "fail_over_mac": "1"}}}
    options = ns.respell(profile, seed).settings["bond"]["options"]
    assert options["fail_over_mac"] == "1" and options["miimon"] == "100" and options["mode"] == "active-backup"
    assert ns.differences(ns.respell(profile, seed), as_nm_returns(profile)) == []
    assert profile.settings["bond"]["options"]["fail_over_mac"] == "active"  # original untouched
    port = ns.port_profile(make_plan(), make_plan().slaves[0])
    assert ns.respell(port, seed) is port
