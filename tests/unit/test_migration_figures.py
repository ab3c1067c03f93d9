"""The live-migration benchmark's figures (tests/lab/migration_figures.py) from `ip -ts -d monitor link`,
`tcpdump -tt -e` and `ping -D` output in the tools' own formats."""
# ruff: noqa: E501 - recorded tool output is kept as the tools print it

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "lab"))

from migration_figures import Trial, migration_times, parse_ping, table  # noqa: E402 - tests/lab is not a package
from timeline import parse_links, parse_packets  # noqa: E402

T = 1795468239.0  # 2026-11-23T21:10:39Z: the detach
GW_MAC, SB_MAC, VF0_MAC, VF1_MAC = "8e:61:6a:35:ea:71", "fa:16:3e:00:01:0a", "fa:16:3e:00:01:01", "fa:16:3e:00:01:02"
SLAVE = "    bond_slave state {} mii_status {} link_failure_count 0 perm_hwaddr {} queue_id 0 prio 0"


def at(offset: float, message: str, *details: str) -> str:
    stamp = datetime.fromtimestamp(T + offset, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return "\n".join([f"[{stamp}] {message}", *details]) + "\n"


def link(name: str, idx: int, flags: str, mac: str, state: str = "", master: str = " master bond0") -> str:
    up = "UP" if "LOWER_UP" in flags else "DOWN"
    return f"{idx}: {name}: <{flags}> mtu 1500 qdisc mq{master} state {up} group default qlen 1000\n    link/ether {mac} brd ff:ff:ff:ff:ff:ff promiscuity 0  allmulti 0 minmtu 68 maxmtu 9216" + (
        f"\n{SLAVE.format(state, 'UP' if up == 'UP' else 'DOWN', mac)}" if state else "")


# The detach as vfbondd's bond sees it: ens6 (active) closes and goes, ens7 takes over for half a
# second and goes, the standby pvio0 is made active.
DETACH = (
    at(-1.0, link("ens6", 12, "BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP", VF0_MAC, "ACTIVE"))
    + at(0.0, link("ens6", 12, "BROADCAST,MULTICAST,SLAVE", VF0_MAC, "ACTIVE"))
    + at(0.002, "Deleted " + link("ens6", 12, "BROADCAST,MULTICAST", VF0_MAC, master=""))
    + at(0.004, link("ens7", 13, "BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP", VF1_MAC, "ACTIVE"))
    + at(0.5, "Deleted " + link("ens7", 13, "BROADCAST,MULTICAST", VF1_MAC, master=""))
    + at(0.502, link("pvio0", 4, "BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP", SB_MAC, "ACTIVE"))
)
# The VFs return: created as eth0/eth1 and renamed by udev, VF 1 first.
RETURN = (
    at(5.0, link("eth0", 16, "BROADCAST,MULTICAST", VF1_MAC, master=""))
    + at(5.05, link("ens17", 16, "BROADCAST,MULTICAST", VF1_MAC, master=""))
    + at(6.0, link("eth0", 17, "BROADCAST,MULTICAST", VF0_MAC, master=""))
    + at(6.05, link("ens16", 17, "BROADCAST,MULTICAST", VF0_MAC, master=""))
)
# vfbondd enslaves them; VF 1's carrier at +7.0, ACTIVE 100 ms later; the primary's at +8.0, ACTIVE at +8.15.
ENSLAVED = (
    at(5.2, link("ens17", 16, "NO-CARRIER,BROADCAST,MULTICAST,SLAVE,UP", VF1_MAC, "BACKUP"))
    + at(6.2, link("ens16", 17, "NO-CARRIER,BROADCAST,MULTICAST,SLAVE,UP", VF0_MAC, "BACKUP"))
    + at(7.0, link("ens17", 16, "BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP", VF1_MAC, "BACKUP"))
    + at(7.1, link("ens17", 16, "BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP", VF1_MAC, "ACTIVE"))
    + at(8.0, link("ens16", 17, "BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP", VF0_MAC, "BACKUP"))
    + at(8.15, link("ens16", 17, "BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP", VF0_MAC, "ACTIVE"))
)


def reply(offset: float, dst: str, seq: int) -> str:
    return f"{T + offset:.6f} {GW_MAC} > {dst}, ethertype IPv4 (0x0800), length 98: 192.0.2.1 > 192.0.2.10: ICMP echo reply, id 7, seq {seq}, length 64\n"


STANDBY = reply(0.3, SB_MAC, 3) + reply(0.56, SB_MAC, 5) + reply(1.0, SB_MAC, 10)
SW1 = reply(7.12, SB_MAC, 70) + reply(7.15, VF1_MAC, 71)  # the first went to the standby (flooded)
SW0 = reply(-0.9, VF0_MAC, 1) + reply(8.2, VF0_MAC, 82)


def figures(monitor: str, until: float = 60.0, old: tuple[str, ...] = ("ens6", "ens7"),
            new: tuple[str, ...] = ("ens16", "ens17"), window_s: float = 30.0) -> dict[str, object]:
    packets = sorted(parse_packets(STANDBY, "pvio0") + parse_packets(SW0, "sw0") + parse_packets(SW1, "sw1"),
                     key=lambda p: p.t)
    got = migration_times(parse_links(monitor, "root"), packets, Trial(
        since=T - 2, until=T + until, old=old, new=new, standby="pvio0", vf_ports=("sw0", "sw1"),
        vf_macs=(VF0_MAC.upper(), VF1_MAC), gw4="192.0.2.1", window_s=window_s))
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in got.items()}


def test_vfbondd_like_trial_is_timed_from_the_detach_and_from_the_first_returned_vfs_carrier() -> None:
    """The reply on the standby at +0.3 s came before it was active (the bond dropped it); the one on
    sw1 at +7.12 s went to the standby's MAC, not to a VF."""
    assert figures(DETACH + RETURN + ENSLAVED) == {
        "detach": 0.0, "gone": 500.0, "standby_active": 502.0, "standby_reply": 560.0, "vf_back": 5050.0,
        "vf_carrier": 7000.0, "origin": "carrier", "watched_s": 53.0,
        "back_on_vf": 100.0, "back_on_primary": 1150.0, "vf_reply": 150.0}


def test_vfs_nobody_brings_up_are_never_back_and_counted_from_their_return() -> None:
    got = figures(DETACH + RETURN)
    assert (got["origin"], got["vf_back"], got["vf_carrier"]) == ("return", 5050.0, None)
    assert got["back_on_vf"] is got["back_on_primary"] is got["vf_reply"] is None
    assert got["standby_reply"] == 560.0 and got["watched_s"] == 54.95


def test_a_vf_active_after_the_window_is_never_back() -> None:
    late = at(37.2, link("ens17", 16, "BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP", VF1_MAC, "ACTIVE"))
    carrier = at(7.0, link("ens17", 16, "BROADCAST,MULTICAST,UP,LOWER_UP", VF1_MAC, master=""))
    got = figures(DETACH + RETURN + carrier + late)
    assert (got["vf_carrier"], got["back_on_vf"], got["vf_reply"]) == (7000.0, None, None)
    assert figures(DETACH + RETURN + carrier + late, window_s=31)["back_on_vf"] == 30200.0


def test_the_old_vfs_last_messages_are_not_a_return_under_the_same_names() -> None:
    """ens6's close still says ACTIVE, with carrier gone; under the old names the VFs are back only
    after both were deleted."""
    same = RETURN.replace("ens17", "ens7").replace("ens16", "ens6")
    enslaved = ENSLAVED.replace("ens17", "ens7").replace("ens16", "ens6")
    got = figures(DETACH + same + enslaved, new=("ens6", "ens7"))
    assert (got["vf_back"], got["vf_carrier"], got["back_on_vf"], got["back_on_primary"]) == (5050.0, 7000.0, 100.0, 1150.0)
    assert figures(DETACH + same, new=("ens6", "ens7"))["back_on_vf"] is None


def test_without_the_detach_in_the_window_there_is_no_trial() -> None:
    assert figures(RETURN + ENSLAVED) == {"detach": None}


def test_a_deleted_links_message_is_its_own_record() -> None:
    """Its detail lines used to join the record before it: ens6's last "bond_slave state ACTIVE"
    would have made the standby look active."""
    text = at(0, link("pvio0", 4, "BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP", SB_MAC, "BACKUP")) \
        + at(0.1, "Deleted " + link("ens6", 12, "BROADCAST,MULTICAST,SLAVE", VF0_MAC, "ACTIVE"))
    records = parse_links(text, "root")
    assert [(r.name, r.deleted, r.bond_active) for r in records] == [("pvio0", False, False), ("ens6", True, True)]


PING = f"""\
PING 192.0.2.1 (192.0.2.1) from 192.0.2.10 bond0: 56(84) bytes of data.
[{T - 0.1:.6f}] 64 bytes from 192.0.2.1: icmp_seq=1 ttl=64 time=0.612 ms
[{T + 0.6:.6f}] 64 bytes from 192.0.2.1: icmp_seq=8 ttl=64 time=0.744 ms
From 192.0.2.10 icmp_seq=9 Destination Host Unreachable
[{T + 0.8:.6f}] 64 bytes from 192.0.2.1: icmp_seq=10 ttl=64 time=0.501 ms

--- 192.0.2.1 ping statistics ---
12 packets transmitted, 3 received, +1 errors, 75% packet loss, time 1102ms
"""


def test_ping_losses_are_pings_own_count_including_those_after_the_last_reply() -> None:
    run = parse_ping(PING)
    assert run.replies == ((round(T - 0.1, 6), 1), (T + 0.6, 8), (T + 0.8, 10)) and run.lost == 9


def test_a_ping_killed_before_its_summary_has_no_loss_figure() -> None:
    assert parse_ping(PING.split("\n---")[0]).lost is None


def test_table_gives_median_and_max_never_and_ratios_against_vfbondd() -> None:
    def row(column: str, **figs: float | None) -> dict[str, object]:
        base: dict[str, object] = {"column": column, "detach": 0.0, "lost": 4, "standby_reply": 600.0,
                                   "back_on_vf": None, "back_on_primary": None, "vf_reply": None}
        return {**base, **figs}

    rows = [row("kernel"), row("kernel", standby_reply=800.0), row("nm"), row("nm", back_on_vf=2000.0),
            row("vfbondd", lost=8, back_on_vf=100.0, back_on_primary=1000.0, vf_reply=150.0),
            row("vfbondd", lost=10, back_on_vf=300.0, back_on_primary=1200.0, vf_reply=None),
            {"column": "vfbondd", "detach": None}]
    lines = table(rows, 10).splitlines()
    assert lines[0].startswith("| live migration (median / max) | kernel alone (of 2) | NetworkManager alone (of 2) | vfbondd (of 3) |")
    assert lines[2] == "| pings lost at 10/s, whole migration | 4 / 4 | 4 / 4 | 9 / 10 | 0.4x | 0.4x |"
    assert lines[3] == "| detach -> first gateway reply through the standby, ms | 700 / 800 | 600 / 600 | 600 / 600 | 1.2x | 1.0x |"
    assert lines[4].endswith("| never (2 of 2) | 2000 / 2000 (never in 1) | 200 / 300 | never back | 10.0x |")
    assert lines[6].endswith("| never (2 of 2) | never (2 of 2) | 150 / 150 (never in 1) | never back | never back |")
