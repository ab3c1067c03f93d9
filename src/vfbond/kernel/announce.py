"""Tell peers the bond's addresses moved to a new MAC: gratuitous ARP and unsolicited NA."""

from __future__ import annotations

import ipaddress
from typing import Any


def prepare() -> None:
    """Load scapy ahead of time where vfbondd may have to announce (num_grat_arp=0): its first
    import takes long enough on a small VM to leave peers on the old MAC meanwhile."""
    packets("02:00:00:00:00:00", ["192.0.2.1/32", "2001:db8::1/128"])


def packets(mac: str, addresses: list[str]) -> list[Any]:
    # scapy is imported here, not at module load: `bondctl status` never needs it.
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
    from scapy.layers.l2 import ARP, Ether

    frames = []
    for cidr in addresses:
        ip = ipaddress.ip_interface(cidr).ip
        if ip.version == 4:
            frames.append(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
                          / ARP(op=1, hwsrc=mac, psrc=str(ip), hwdst="00:00:00:00:00:00", pdst=str(ip)))
        elif not ip.is_link_local:
            frames.append(Ether(src=mac, dst="33:33:00:00:00:01")
                          / IPv6(src=str(ip), dst="ff02::1", hlim=255)
                          / ICMPv6ND_NA(tgt=str(ip), R=0, S=0, O=1)
                          / ICMPv6NDOptDstLLAddr(lladdr=mac))
    return frames


def announce(ifname: str, mac: str, addresses: list[str]) -> int:
    """Send one gratuitous ARP per IPv4 and one unsolicited NA per IPv6 address; returns how many."""
    from scapy.sendrecv import sendp

    frames = packets(mac, addresses)
    if frames:
        sendp(frames, iface=ifname, verbose=False)
    return len(frames)
