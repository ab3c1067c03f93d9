"""Render RHEL/CentOS network-scripts files (ifcfg-bond0, ifcfg-<vf>) from a plan: pure text in, text out.

Also reads such files back (KEY=VALUE shell assignments) so the backend can spot other files that
would configure the bond or its VFs at boot.
"""

from __future__ import annotations

import ipaddress
import re

from vfbond.bond_model import BondPlan, SlaveBinding

HEADER = "# Written by vfbond from its config; edit that (vfbond.yaml), not this file: vfbond rewrites it.\n"
# initscripts' is_ignored_file() and NetworkManager's ifcfg-rh plugin skip these names.
IGNORED_SUFFIXES = ("~", ".bak", ".old", ".orig", ".rpmnew", ".rpmorig", ".rpmsave")
_PLAIN = re.compile(r"^[A-Za-z0-9_.:/@%+,=-]*$")


def filename(device: str) -> str:
    return f"ifcfg-{device}"


def is_ifcfg(name: str) -> bool:
    """Would network-scripts read this file as an interface config?"""
    return name.startswith("ifcfg-") and not name.endswith(IGNORED_SUFFIXES) and name != "ifcfg-lo"


def _value(v: str) -> str:
    if _PLAIN.match(v):
        return v
    return '"' + re.sub(r'(["\\$`])', r"\\\1", v) + '"'


def _lines(pairs: list[tuple[str, str]]) -> str:
    return HEADER + "".join(f"{k}={_value(v)}\n" for k, v in pairs)


def bonding_opts(plan: BondPlan) -> str:
    return " ".join(f"{k}={v}" for k, v in plan.options().items())


def render_bond(plan: BondPlan) -> str:
    pairs = [
        ("DEVICE", plan.name),
        ("NAME", plan.name),
        ("TYPE", "Bond"),
        ("BONDING_MASTER", "yes"),
        ("BONDING_OPTS", bonding_opts(plan)),
        ("BOOTPROTO", "none"),
        ("ONBOOT", "yes"),
        ("NM_CONTROLLED", "no"),
    ]
    if plan.mtu:
        pairs.append(("MTU", str(plan.mtu)))
    # initscripts reads IPADDR/PREFIX, then IPADDR1/PREFIX1, IPADDR2/PREFIX2...
    for i, cidr in enumerate(plan.ipv4.addresses):
        iface = ipaddress.ip_interface(cidr)
        suffix = str(i) if i else ""
        pairs += [(f"IPADDR{suffix}", str(iface.ip)), (f"PREFIX{suffix}", str(iface.network.prefixlen))]
    if plan.ipv4.gateway:
        pairs.append(("GATEWAY", plan.ipv4.gateway))
    if plan.ipv6.addresses:
        pairs += [("IPV6INIT", "yes"), ("IPV6ADDR", plan.ipv6.addresses[0])]
        if len(plan.ipv6.addresses) > 1:
            pairs.append(("IPV6ADDR_SECONDARIES", " ".join(plan.ipv6.addresses[1:])))
        if gateway := plan.ipv6.gateway:
            # A link-local gateway is only reachable through a named link: initscripts takes it as %interface.
            zone = f"%{plan.name}" if ipaddress.ip_address(gateway).is_link_local else ""
            pairs.append(("IPV6_DEFAULTGW", gateway + zone))
    else:
        pairs.append(("IPV6INIT", "no"))
    return _lines(pairs)


def render_slave(plan: BondPlan, slave: SlaveBinding) -> str:
    return _lines([
        ("DEVICE", slave.ifname),
        ("NAME", slave.ifname),
        # The VF's MAC (set by the host): the file follows the VF if the guest renames it.
        ("HWADDR", slave.mac),
        ("TYPE", "Ethernet"),
        ("MASTER", plan.name),
        ("SLAVE", "yes"),
        ("BOOTPROTO", "none"),
        ("ONBOOT", "yes"),
        ("NM_CONTROLLED", "no"),
    ])


def render(plan: BondPlan) -> dict[str, str]:
    """File name -> content, the bond first."""
    files = {filename(plan.name): render_bond(plan)}
    for slave in plan.slaves:
        files[filename(slave.ifname)] = render_slave(plan, slave)
    return files


_ASSIGN = re.compile(r"""^([A-Za-z_][A-Za-z0-9_]*)=(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s#]*))""")


def parse(text: str) -> dict[str, str]:
    """KEY=VALUE assignments of an ifcfg file, unquoted as the shell would; other lines are skipped."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        m = _ASSIGN.match(line.strip())
        if not m:
            continue
        key, double, single, bare = m.groups()
        if double is not None:
            values[key] = re.sub(r'\\(["\\$`])', r"\1", double)
        else:
            values[key] = single if single is not None else bare
    return values


def conflicts(plan: BondPlan, name: str, values: dict[str, str]) -> str | None:
    """Why another ifcfg file would fight this plan at boot, or None when it would not."""
    device = values.get("DEVICE") or name.removeprefix("ifcfg-")
    hwaddr = values.get("HWADDR", "").lower()
    for slave in plan.slaves:
        if device == slave.ifname:
            return f"it configures {slave.ifname}, a slave of {plan.name}"
        if hwaddr and hwaddr == slave.mac.lower():
            return f"it configures {slave.mac} ({slave.ifname}), a slave of {plan.name}"
    if device == plan.name:
        return f"it configures {plan.name} too"
    if values.get("MASTER") == plan.name or values.get("BOND_MASTER") == plan.name:
        return f"it enslaves {device} to {plan.name}, which the plan does not"
    return None
