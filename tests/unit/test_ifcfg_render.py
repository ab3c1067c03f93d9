"""ifcfg rendering is pure: a plan in, exact network-scripts text out."""

from __future__ import annotations

from dataclasses import replace

from vfbond.backends import ifcfg_render
from vfbond.bond_model import BondPlan, SlaveBinding
from vfbond.config import IPConfig

PLAN = BondPlan(
    name="bond0", miimon=100, updelay=0, downdelay=0, fail_over_mac="active", primary="ens6",
    primary_reselect="failure", num_peer_notif=1,
    slaves=(SlaveBinding("sriov0", "ens6", "fa:16:3e:00:00:01"), SlaveBinding("sriov1", "ens7", "fa:16:3e:00:00:02")),
    ipv4=IPConfig(("192.0.2.10/24",), "192.0.2.1"), ipv6=IPConfig(("2001:db8::10/64",), "2001:db8::1"), mtu=9000,
)

BOND0 = """\
# Written by vfbond from its config; edit that (vfbond.yaml), not this file: vfbond rewrites it.
DEVICE=bond0
NAME=bond0
TYPE=Bond
BONDING_MASTER=yes
BONDING_OPTS="mode=active-backup miimon=100 updelay=0 downdelay=0 fail_over_mac=active primary_reselect=failure \
num_grat_arp=1 primary=ens6"
BOOTPROTO=none
ONBOOT=yes
NM_CONTROLLED=no
MTU=9000
IPADDR=192.0.2.10
PREFIX=24
GATEWAY=192.0.2.1
IPV6INIT=yes
IPV6ADDR=2001:db8::10/64
IPV6_DEFAULTGW=2001:db8::1
"""

ENS6 = """\
# Written by vfbond from its config; edit that (vfbond.yaml), not this file: vfbond rewrites it.
DEVICE=ens6
NAME=ens6
HWADDR=fa:16:3e:00:00:01
TYPE=Ethernet
MASTER=bond0
SLAVE=yes
BOOTPROTO=none
ONBOOT=yes
NM_CONTROLLED=no
"""


def test_bond_file_exact() -> None:
    assert ifcfg_render.render_bond(PLAN) == BOND0


def test_slave_file_exact() -> None:
    assert ifcfg_render.render_slave(PLAN, PLAN.slaves[0]) == ENS6


def test_render_names_bond_first_then_each_vf() -> None:
    files = ifcfg_render.render(PLAN)
    assert list(files) == ["ifcfg-bond0", "ifcfg-ens6", "ifcfg-ens7"]
    assert "HWADDR=fa:16:3e:00:00:02\n" in files["ifcfg-ens7"] and "DEVICE=ens7\n" in files["ifcfg-ens7"]


def test_several_addresses_no_mtu_no_primary() -> None:
    plan = replace(PLAN, mtu=None, primary=None,
                   ipv4=IPConfig(("192.0.2.10/24", "198.51.100.10/25"), "192.0.2.1"),
                   ipv6=IPConfig(("2001:db8::10/64", "2001:db8:1::10/64", "2001:db8:2::10/64"), None))
    text = ifcfg_render.render_bond(plan)
    assert "MTU=" not in text and "primary=" not in text
    assert "IPADDR=192.0.2.10\nPREFIX=24\nGATEWAY" not in text
    assert "IPADDR=192.0.2.10\nPREFIX=24\nIPADDR1=198.51.100.10\nPREFIX1=25\nGATEWAY=192.0.2.1\n" in text
    assert 'IPV6ADDR_SECONDARIES="2001:db8:1::10/64 2001:db8:2::10/64"\n' in text
    assert "IPV6_DEFAULTGW" not in text


def test_ipv4_only_turns_ipv6_off() -> None:
    text = ifcfg_render.render_bond(replace(PLAN, ipv6=IPConfig()))
    assert "IPV6INIT=no\n" in text and "IPV6ADDR" not in text


def test_render_is_deterministic() -> None:
    assert ifcfg_render.render(PLAN) == ifcfg_render.render(replace(PLAN))


def test_parse_reads_back_what_render_wrote() -> None:
    values = ifcfg_render.parse(BOND0)
    assert values["BONDING_OPTS"].split() == ifcfg_render.bonding_opts(PLAN).split()
    assert values["DEVICE"] == "bond0" and values["IPV6ADDR"] == "2001:db8::10/64"


def test_parse_quotes_and_comments() -> None:
    values = ifcfg_render.parse("# c\nDEVICE='eth 1'\nHWADDR=FA:16:3E:00:00:01  # inline\nnot an assignment\n")
    assert values == {"DEVICE": "eth 1", "HWADDR": "FA:16:3E:00:00:01"}


def test_quoting_escapes_shell_specials() -> None:
    tricky = 'a "b" $c'
    assert ifcfg_render._value(tricky) == '"a \\"b\\" \\$c"'
    assert ifcfg_render.parse("X=" + ifcfg_render._value(tricky) + "\n")["X"] == tricky


def test_is_ifcfg_skips_backups_and_lo() -> None:
    assert ifcfg_render.is_ifcfg("ifcfg-eth0")
    for name in ("ifcfg-lo", "ifcfg-eth0.bak", "ifcfg-eth0.vfbond-20260101T000000.000000.bak", "ifcfg-eth0~",
                 "ifcfg-eth0.rpmsave", "route-eth0", ".ifcfg-bond0.x.tmp"):
        assert not ifcfg_render.is_ifcfg(name), name


def test_conflicts() -> None:
    c = ifcfg_render.conflicts
    assert "slave of bond0" in c(PLAN, "ifcfg-ens6", {"DEVICE": "ens6", "BOOTPROTO": "dhcp"})
    assert "slave of bond0" in c(PLAN, "ifcfg-eth1", {"DEVICE": "eth1", "HWADDR": "FA:16:3E:00:00:02"})
    assert "ens7" in c(PLAN, "ifcfg-ens7", {})  # no DEVICE: the file name names it
    assert "bond0 too" in c(PLAN, "ifcfg-Bond_connection_1", {"DEVICE": "bond0", "TYPE": "Bond"})
    assert "does not" in c(PLAN, "ifcfg-eth3", {"DEVICE": "eth3", "MASTER": "bond0", "SLAVE": "yes"})
    assert c(PLAN, "ifcfg-eth0", {"DEVICE": "eth0", "BOOTPROTO": "dhcp", "HWADDR": "52:54:00:12:34:56"}) is None


def test_link_local_ipv6_gateway_names_the_bond() -> None:
    """initscripts needs the interface for a link-local gateway (IPV6_DEFAULTGW=<address>%<interface>)."""
    text = ifcfg_render.render_bond(replace(PLAN, ipv6=IPConfig(("2001:db8::10/64",), "fe80::1")))
    assert "IPV6_DEFAULTGW=fe80::1%bond0\n" in text
    assert ifcfg_render.parse(text)["IPV6_DEFAULTGW"] == "fe80::1%bond0"
