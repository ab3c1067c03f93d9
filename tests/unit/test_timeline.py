"""The benchmark's timeline (tests/lab/timeline.py) on real `ip -ts -d monitor link` and `tcpdump -tt -e` output."""
# ruff: noqa: E501 - recorded tool output is kept verbatim

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "lab"))

from timeline import failover_times, parse_links, parse_packets  # noqa: E402 - tests/lab is not a package

# One trial, veth topology: the switch port sw0 goes down (namespace sw), vf0 loses carrier, vf1
# becomes the bond's active slave, announces the bond's address and hears the gateway's reply.
SW = """\
[2026-11-23T21:10:39.000000] 7: sw0@if6: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue master br0 state DOWN group default
    link/ether 8e:61:6a:35:ea:71 brd ff:ff:ff:ff:ff:ff link-netnsid 0 promiscuity 1  allmulti 1 minmtu 68 maxmtu 65535
"""
ROOT = """\
[2026-11-23T21:10:38.500000] 6: vf0@if7: <BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP> mtu 1500 qdisc noqueue master bond0 state UP
    bond_slave state ACTIVE mii_status UP link_failure_count 0 perm_hwaddr fa:16:3e:00:00:01 queue_id 0
[2026-11-23T21:10:39.004000] 6: vf0@if7: <NO-CARRIER,BROADCAST,MULTICAST,SLAVE,UP> mtu 1500 qdisc noqueue master bond0 state DOWN group default
    link/ether fa:16:3e:00:00:01 brd ff:ff:ff:ff:ff:ff link-netns sw promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535
    bond_slave state ACTIVE mii_status UP link_failure_count 0 perm_hwaddr fa:16:3e:00:00:01 queue_id 0
[2026-11-23T21:10:39.011000] 8: vf1@if9: <BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP> mtu 1500 qdisc noqueue master bond0 state UP
    link/ether fa:16:3e:00:00:02 brd ff:ff:ff:ff:ff:ff link-netns sw promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535
    bond_slave state ACTIVE mii_status UP link_failure_count 0 perm_hwaddr fa:16:3e:00:00:02 queue_id 0
"""
T = 1795468239.0  # 2026-11-23T21:10:39Z
VF1 = f"""\
{T + 0.010:.6f} 8e:61:6a:35:ea:71 > fa:16:3e:00:00:01, ethertype IPv4 (0x0800), length 98: 192.0.2.1 > 192.0.2.10: ICMP echo reply, id 1, seq 3, length 64
{T + 0.012:.6f} fa:16:3e:00:00:02 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 192.0.2.10 tell 192.0.2.10, length 28
{T + 0.013:.6f} fa:16:3e:00:00:02 > 8e:61:6a:35:ea:71, ethertype IPv4 (0x0800), length 98: 192.0.2.10 > 192.0.2.1: ICMP echo request, id 1, seq 4, length 64
{T + 0.019:.6f} 8e:61:6a:35:ea:71 > fa:16:3e:00:00:02, ethertype IPv4 (0x0800), length 98: 192.0.2.1 > 192.0.2.10: ICMP echo reply, id 1, seq 4, length 64
"""


def times(captured: str = VF1, until: float = T + 1) -> dict[str, float | None]:
    """The trial above, with `captured` as vf1's packets, recorded until `until`."""
    links = sorted(parse_links(SW, "sw") + parse_links(ROOT, "root"), key=lambda r: r.t)
    return failover_times(links, parse_packets(captured, "vf1"), since=T - 0.1, until=until, cause="sw0", old="vf0",
                          new="vf1", new_mac="fa:16:3e:00:00:02", ip4="192.0.2.10", gw4="192.0.2.1")


def test_every_step_is_timed_from_the_cause() -> None:
    """The reply at +10 ms came before vf1 was active: the first through it is the one at +19 ms."""
    got = {k: None if v is None else round(v, 3) for k, v in times().items()}
    assert got == {"cause": 0.0, "carrier_loss": 4.0, "active": 11.0, "announce": 12.0, "reply": 19.0}


def test_detail_lines_belong_to_their_message_and_names_lose_the_peer_suffix() -> None:
    records = parse_links(ROOT, "root")
    assert [r.name for r in records] == ["vf0", "vf0", "vf1"]
    assert [r.carrier for r in records] == [True, False, True]
    assert records[2].bond_active and not parse_links(SW, "sw")[0].carrier
    assert parse_links(SW, "sw")[0].admin_down and not records[1].admin_down  # no carrier, yet admin up


def test_no_cause_in_the_window_means_no_trial() -> None:
    links = parse_links(ROOT, "root")
    assert failover_times(links, [], since=T + 5, until=T + 6, cause="sw0", old="vf0", new="vf1", new_mac="x", ip4="y",
                          gw4="z") == {"cause": None}


def test_an_announcement_stamped_before_the_active_notice_is_the_announcement() -> None:
    """bonding sends the gratuitous ARP while it makes the slave active; the netlink notice of the new
    state comes after it (on igbvf, by ~1 ms). The next match would be a plain ARP reply seconds later."""
    got = times(f"""\
{T + 0.009:.6f} fa:16:3e:00:00:02 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 192.0.2.10 tell 192.0.2.10, length 28
{T + 5.080:.6f} fa:16:3e:00:00:02 > 8e:61:6a:35:ea:71, ethertype ARP (0x0806), length 42: Reply 192.0.2.10 is-at fa:16:3e:00:00:02, length 28
""", until=T + 6)
    assert got["announce"] is not None and round(got["announce"], 3) == 9.0


def test_a_reply_after_the_trial_ended_is_not_this_trials() -> None:
    """The sriov benchmark showed a bimodal ~15 s first reply: ping's deadline had ended before the
    switch, and the first reply through the new VF was the next trial's. Such a step is not seen."""
    late = f"{T + 15.2:.6f} 8e:61:6a:35:ea:71 > fa:16:3e:00:00:02, ethertype IPv4 (0x0800), length 98: 192.0.2.1 > 192.0.2.10: ICMP echo reply, id 2, seq 9, length 64\n"
    got = times(late, until=T + 4)
    assert got["active"] is not None and got["reply"] is None
