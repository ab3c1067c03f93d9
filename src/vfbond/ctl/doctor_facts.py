"""bondctl doctor's facts: what the checks (doctor.py) judge, and their reading (config file, kernel,
ifcfg file, NetworkManager on D-Bus, the vfbondd control socket, systemd). Nothing here judges."""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vfbond import config as config_mod
from vfbond.backends import ifcfg_render
from vfbond.backends.choose import NM_BUS_NAME, nm_on_bus
from vfbond.config import Config, ConfigError, SlaveSpec, advice
from vfbond.config.problems import Misfit
from vfbond.configure.plan import resolve_slave
from vfbond.ctl.sources import BONDING_DRIVER
from vfbond.kernel.bond_state import BondState, LinkInfo, addresses, links, read_bond
from vfbond.kernel.rtnl import Rtnl
from vfbond.shared.protocol import CommandError, DaemonNotRunning, request
from vfbond.shared.status import DescribedLock
from vfbond.shared.status import Status as DaemonReply
from vfbond.supervise import maclock
from vfbond.watch.kmsg import backlog
from vfbond.watch.kmsg_rules import classify

UNIT = "vfbondd.service"
NM_PATH = "/org/freedesktop/NetworkManager"


@dataclass(frozen=True)
class Facts:
    config_path: str
    config: Config | None
    config_problems: list[str]
    bond_name: str
    bond: BondState | None
    links: list[LinkInfo]
    slave_addresses: dict[str, list[str]]  # interface name -> addresses (no link-local), resolved members only
    daemon: DaemonReply | None  # vfbondd's status reply
    daemon_error: str | None  # why there is no reply
    nm_running: bool = False
    nm_bond: str | None = None  # NetworkManager's hold on the bond: active | managed | unmanaged; None: no device
    nm_version: str | None = None  # NetworkManager's D-Bus property Version
    ifcfg_nm_controlled: bool | None = None  # ifcfg-<bond>: NM_CONTROLLED not "no"; None: no such file
    unit_enabled: bool | None = None  # None: systemd is not the init
    now: float = field(default_factory=time.time)
    # slave -> a MAC-lock verdict ({"state", "text"}) from a refusal still in the kernel's ring buffer
    kernel_locks: dict[str, DescribedLock] = field(default_factory=dict)
    config_warnings: list[Misfit] = field(default_factory=list)  # a valid config that will not work as meant
    bonding_driver: bool = True  # the kernel's bonding driver is loaded (or built in)


@dataclass(frozen=True)
class Slave:
    label: str
    spec: str  # how the config names it
    link: LinkInfo | None

    @property
    def own_mac(self) -> str | None:
        return (self.link.perm_mac or self.link.mac).lower() if self.link else None


def slaves(facts: Facts) -> list[Slave]:
    """The configured VFs resolved to interfaces; without a config, the bond's own slaves."""
    if facts.config is not None:
        return [Slave(s.label, _describe(s), resolve_slave(s, facts.links, facts.bond))
                for s in facts.config.bond.slaves]
    if facts.bond is None:
        return []
    return [Slave(s.name, s.name, s.link) for s in facts.bond.slaves]


def standby(facts: Facts) -> Slave | None:
    """The configured standby resolved to an interface (link None: not on this VM); None without one."""
    spec = facts.config.bond.standby if facts.config else None
    return Slave(spec.label, _describe(spec), resolve_slave(spec, facts.links, facts.bond)) if spec else None


def _describe(spec: SlaveSpec) -> str:
    return " ".join(p for p in (f"mac {spec.mac}" if spec.mac else "", f"name {spec.name}" if spec.name else "") if p)



async def _nm(bond: str) -> tuple[str | None, str | None]:
    """NetworkManager's hold on the bond device and its version, asked over the system bus."""
    from dbus_fast import BusType, Message, MessageType
    from dbus_fast.aio import MessageBus

    bus = await asyncio.wait_for(MessageBus(bus_type=BusType.SYSTEM).connect(), 5)

    async def prop(path: str, interface: str, name: str) -> Any:
        r = await bus.call(Message(destination=NM_BUS_NAME, path=path, interface="org.freedesktop.DBus.Properties",
                                   member="Get", signature="ss", body=[interface, name]))
        return r.body[0].value if r.message_type == MessageType.METHOD_RETURN else None

    try:
        version = await prop(NM_PATH, NM_BUS_NAME, "Version")
        reply = await bus.call(Message(destination=NM_BUS_NAME, path=NM_PATH, interface=NM_BUS_NAME,
                                       member="GetDeviceByIpIface", signature="s", body=[bond]))
        if reply.message_type != MessageType.METHOD_RETURN:
            return None, version  # NM has no such device
        device = reply.body[0]
        if await prop(device, f"{NM_BUS_NAME}.Device", "ActiveConnection") not in (None, "/"):
            return "active", version
        return ("managed" if await prop(device, f"{NM_BUS_NAME}.Device", "Managed") else "unmanaged"), version
    finally:
        bus.disconnect()


def _unit_enabled() -> bool | None:
    if not Path("/run/systemd/system").is_dir():
        return None
    done = subprocess.run(["systemctl", "is-enabled", "--quiet", UNIT], capture_output=True, timeout=10,
                          check=False)
    return done.returncode == 0


def _ifcfg(config: Config | None, bond: str) -> bool | None:
    directory = Path(config.ifcfg_dir if config else Config.ifcfg_dir)
    try:
        values = ifcfg_render.parse((directory / ifcfg_render.filename(bond)).read_text(encoding="utf-8"))
    except OSError:
        return None
    return values.get("NM_CONTROLLED", "yes").lower() not in ("no", "false", "0")


async def _system(bond_name: str, config: Config | None) -> dict[str, Any]:
    """The kernel's bond, links and the VFs' addresses, and NetworkManager's view, in one event loop."""
    async with Rtnl() as ipr:
        bond = await read_bond(ipr, bond_name)
        found = await links(ipr)
        if config is not None:
            slave_links = [link for link in (resolve_slave(s, found, bond) for s in config.bond.members) if link]
        else:
            slave_links = [s.link for s in bond.slaves] if bond else []
        slave_addresses = {link.name: await addresses(ipr, link.index) for link in slave_links}
    nm_running = await nm_on_bus()
    nm_bond, nm_version = await _nm(bond_name) if nm_running else (None, None)
    return {"bond": bond, "links": found, "slave_addresses": slave_addresses, "nm_running": nm_running,
            "nm_bond": nm_bond, "nm_version": nm_version}


def _kernel_locks(bond: str, slaves: dict[str, str]) -> dict[str, DescribedLock]:
    """MAC refusals for these slaves (name -> label) still in the kernel log; none when it cannot be read."""
    try:
        records = backlog()
    except OSError:
        return {}  # not root, or no /dev/kmsg: vfbondd's probe is the other source
    found: dict[str, DescribedLock] = {}
    for record in records:
        obs = classify(record.text, bond=bond, netdev_of=lambda pci: None, is_slave=slaves.__contains__)
        verdict = maclock.verdict_of_kernel(obs) if obs and record.facility == 0 else None
        if obs and obs.slave in slaves and verdict:
            found[obs.slave] = {**verdict.to_dict(), "text": verdict.text(slaves[obs.slave])}
    return found


def gather(config_path: str, bond_name: str, socket: str) -> Facts:
    config: Config | None = None
    problems: list[str] = []
    try:
        config = config_mod.load(config_path)
    except ConfigError as exc:
        problems = [str(p) for p in exc.problems]
    name = config.bond.name if config else bond_name
    daemon, daemon_error = None, None
    try:
        daemon = request(config.daemon.socket if config else socket, "status")
    except DaemonNotRunning as exc:
        daemon_error = f"no socket at {exc}"
    except CommandError as exc:
        daemon_error = str(exc)
    system = asyncio.run(_system(name, config))
    facts = Facts(config_path=config_path, config=config, config_problems=problems, bond_name=name,
                  daemon=daemon, daemon_error=daemon_error, ifcfg_nm_controlled=_ifcfg(config, name),
                  unit_enabled=_unit_enabled(), config_warnings=advice.warnings(config) if config else [],
                  bonding_driver=BONDING_DRIVER.exists(), **system)
    resolved = {s.link.name: s.label for s in slaves(facts) if s.link}
    return replace(facts, kernel_locks=_kernel_locks(name, resolved))
