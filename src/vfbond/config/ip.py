"""The bond's IPv4 and IPv6 addresses and gateway."""

from __future__ import annotations

import ipaddress
from typing import Any

from vfbond import redact
from vfbond.config import checks
from vfbond.config.reader import Reader
from vfbond.config.schema import IPConfig


def read_ip(r: Reader, raw: Any, path: str, version: int) -> IPConfig:
    sect = r.section(raw, path, IPConfig, ("addresses", "address", "gateway"))
    addresses: list[str] = []
    items = r.items(sect.raw.get("addresses"), f"{path}.addresses", "write addresses as a YAML list of CIDRs")
    if "address" in sect.raw:
        items = [sect.raw["address"], *items]
    for i, item in enumerate(items):
        field_path = f"{path}.addresses[{i}]" if "addresses" in sect.raw else f"{path}.address"
        try:
            if not isinstance(item, str):
                raise ValueError
            iface = ipaddress.ip_interface(item)
            if iface.version != version or "/" not in item:
                raise ValueError
            addresses.append(str(iface))
        except ValueError:
            example = "10.10.1.5/24" if version == 4 else "2001:db8:10::5/64"
            r.problem(field_path, f"{redact.shown(field_path, item)} is not an IPv{version} address with a prefix "
                      "length", f"write it as CIDR, e.g. {example}")
    gateway = sect.get("gateway", str, checks.gateway,
                       "give the gateway as a plain address, e.g. 192.0.2.1 or fe80::1 (no %zone)")
    if gateway is not None and ipaddress.ip_address(gateway).version != version:
        r.problem(f"{path}.gateway", f"{gateway} is not IPv{version}", f"move it under ipv{6 if version == 4 else 4}")
        gateway = None
    if gateway and not addresses and "address" not in sect.raw and "addresses" not in sect.raw:
        r.problem(f"{path}.gateway", f"{gateway} is given without addresses, and a family without addresses is "
                  "left off (NetworkManager, ifcfg)", f"add the bond's IPv{version} addresses, or remove the gateway")
    # A router advertises its link-local address (fe80::/10): on the bond's link, in none of its subnets.
    if gateway and addresses and not ipaddress.ip_address(gateway).is_link_local \
            and not any(ipaddress.ip_address(gateway) in ipaddress.ip_interface(a).network for a in addresses):
        r.problem(f"{path}.gateway", f"{gateway} is in none of the bond's subnets ({', '.join(addresses)})",
                  "correct the gateway or the address prefix")
    return IPConfig(tuple(addresses), gateway)
