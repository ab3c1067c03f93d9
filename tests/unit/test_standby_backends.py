"""Every backend writes the standby as a third port: it is a binding of the plan like the VFs."""

from __future__ import annotations

from tests.unit.test_plan import STANDBY_LINKS, WITH_STANDBY
from vfbond import config
from vfbond.backends import ifcfg_render, nm_settings
from vfbond.backends.netlink import Target
from vfbond.configure.plan import build

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
