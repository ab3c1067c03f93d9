"""The standby's bonding priority request is `ip link set DEV type bond_slave prio -1`, byte for byte."""

from __future__ import annotations

from vfbond.kernel.slave_prio import prio_request

# `strace -x -e trace=sendmsg ip link set dev lo type bond_slave prio -1` (iproute2 6.1, ifindex 9 here, seq 1):
# RTM_NEWLINK REQUEST|ACK, len 64; IFLA_LINKINFO len 32 {IFLA_INFO_KIND "bond_slave", IFLA_INFO_SLAVE_DATA
# len 12 {"\x08\x00\x09\x00\xff\xff\xff\xff"}}.
IP_LINK = bytes.fromhex(
    "40000000" "1000" "0500" "01000000" "00000000"  # nlmsghdr
    "00000000" "09000000" "00000000" "00000000"  # ifinfomsg: AF_UNSPEC, ifindex 9
    "2000" "1200"  # IFLA_LINKINFO
    "0e00" "0100" "626f6e645f736c617665" "0000"  # IFLA_INFO_KIND "bond_slave" (no NUL), padded
    "0c00" "0500" "0800" "0900" "ffffffff")  # IFLA_INFO_SLAVE_DATA: IFLA_BOND_SLAVE_PRIO -1


def test_the_request_is_what_ip_link_sends() -> None:
    assert prio_request(9, -1) == IP_LINK
