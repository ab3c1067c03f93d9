"""Every backend writes the standby as a third port: it is a binding of the plan like the VFs."""

from __future__ import annotations

from tests.unit.test_plan import STANDBY_LINKS, WITH_STANDBY
from vfbond import config
from vfbond.backends import ifcfg_render, nm_settings
from vfbond.backends.netlink import Target
from vfbond.configure.plan import build
from vfbond.kernel.slave_prio import STANDBY_PRIO

PLAN = build(config.parse(WITH_STANDBY.replace("  primary: sriov0\n", "")).bond, STANDBY_LINKS)


def test_netlink_enslaves_the_standby_last_and_knows_it() -> None:
    target = Target.from_plan(PLAN)
    assert target.slaves == ("ens6", "ens7", "eth9") and target.standby == "eth9"


def test_networkmanager_gets_a_third_port_profile_matched_by_the_standby_mac() -> None:
    ports = nm_settings.profiles(PLAN)[1:]
    assert [p.id for p in ports] == ["bond0-sriov0", "bond0-sriov1", "bond0-standby"]
    assert ports[2].settings["802-3-ethernet"]["mac-address"] == "52:54:00:ab:cd:09"
    assert ports[2].settings["connection"]["master"] == "bond0"


def test_ifcfg_writes_a_third_slave_file() -> None:
    values = ifcfg_render.parse(ifcfg_render.render(PLAN)["ifcfg-eth9"])
    assert (values["MASTER"], values["SLAVE"]) == ("bond0", "yes")


def test_networkmanager_with_bond_port_prio_gives_the_standby_the_lowest_and_leaves_the_vfs_at_their_default() -> None:
    ports = nm_settings.profiles(PLAN, port_prio=True)[1:]
    assert ports[2].settings["bond-port"] == {"prio": STANDBY_PRIO} and STANDBY_PRIO < 0  # the VFs' default is 0
    assert ["bond-port" in p.settings for p in ports] == [False, False, True]
    body = nm_settings.new_settings(ports[2], "u-1", lambda _s, _k, value: value)
    assert body["bond-port"] == {"prio": STANDBY_PRIO} and ("bond-port", "prio") in nm_settings.SIGNATURES
    # NM leaves a key at its default out of GetSettings: a standby profile from before is one difference
    before = {section: {k: v for k, v in keys.items() if v is not None}
              for section, keys in ports[2].settings.items() if section != "bond-port"}
    assert [str(d) for d in nm_settings.differences(ports[2], before)] == [f"bond-port.prio: 0 -> {STANDBY_PRIO}"]
    assert nm_settings.differences(ports[2], {**before, "bond-port": {"prio": STANDBY_PRIO}}) == []


def test_networkmanager_without_bond_port_prio_gets_no_such_key() -> None:
    assert ["bond-port" in p.settings for p in nm_settings.profiles(PLAN)[1:]] == [False, False, False]
    assert ["bond-port" in p.settings for p in nm_settings.profiles(PLAN, port_prio=False)[1:]] == [False] * 3


def test_bond_port_prio_is_in_networkmanager_144_and_later() -> None:
    versions = ("1.42.2", "1.44.0", "1.46.0-27.el9", "1.52.1", "2.0", None, "")
    assert [nm_settings.has_port_prio(v) for v in versions] == [False, True, True, True, True, False, False]
