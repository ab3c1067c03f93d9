"""Does the systemd unit let vfbondd use every path and port this config names?

units/vfbondd.service sandboxes vfbondd: ProtectSystem=strict (read-only but for its own
directories), ProtectHome=yes, PrivateTmp=yes and a bounded capability set. A config naming a
path or port outside that goes wrong only when vfbondd runs: a socket or state directory it cannot
write stops it with exit 10 before it touches the bond, a hidden CA file with exit 2 (the unit
restarts neither), a read-only textfile directory leaves node_exporter without metrics. `misfits`
(pure) names each such field with the exact drop-in (`systemctl edit vfbondd`) that fixes it;
`shipped` and `installed` give it the unit.
"""

from __future__ import annotations

import posixpath
import subprocess
from dataclasses import dataclass
from importlib import resources

from vfbond.config.problems import Misfit
from vfbond.config.schema import Config, DaemonConfig
from vfbond.shared import exitcodes

UNIT = "vfbondd.service"
PROPERTIES = ("ProtectSystem", "ProtectHome", "PrivateTmp", "ReadWritePaths", "StateDirectory",
              "RuntimeDirectory", "CapabilityBoundingSet")
HOME = ("/home", "/root", "/run/user")  # what ProtectHome= covers
TMP = ("/tmp", "/var/tmp")  # what PrivateTmp= replaces
READ_ONLY = {"strict": ("/",), "full": ("/usr", "/boot", "/efi", "/etc"), "yes": ("/usr", "/boot", "/efi")}
API = ("/dev", "/proc", "/sys")  # writable even under ProtectSystem=strict
YES = ("yes", "true", "on", "1")
EDIT = f"systemctl edit {UNIT.removesuffix('.service')}, and under [Service] add"
# What vfbondd does where it may not write its socket or state (daemon/writable.py).
REFUSED = f", and vfbondd exits {exitcodes.CANNOT_WRITE} at start, before it touches the bond"


@dataclass(frozen=True)
class Sandbox:
    protect_system: str = "no"
    protect_home: str = "no"
    private_tmp: bool = False
    writable: tuple[str, ...] = ()  # ReadWritePaths=, StateDirectory= and RuntimeDirectory=, absolute
    capabilities: frozenset[str] | None = None  # lower-case names; None: not bounded


def parse(text: str) -> Sandbox:
    """The sandbox from `Key=Value` lines: a unit file with its drop-ins, or `systemctl show`'s output.
    A list setting given again adds to it; given empty, it starts over (systemd's rule)."""
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in PROPERTIES:
            values[key] = values.get(key, []) + value.split() if value else []
    last = {key: words[-1].lower() if words else "no" for key, words in values.items()}
    writable = [w.lstrip("-+") for w in values.get("ReadWritePaths", [])]
    writable += [posixpath.join("/var/lib", d) for d in values.get("StateDirectory", [])]
    writable += [posixpath.join("/run", d) for d in values.get("RuntimeDirectory", [])]
    caps = values.get("CapabilityBoundingSet")
    return Sandbox(protect_system=last.get("ProtectSystem", "no").replace("true", "yes"),
                   protect_home=last.get("ProtectHome", "no").replace("true", "yes"),
                   private_tmp=last.get("PrivateTmp", "no") in YES, writable=tuple(writable),
                   capabilities=frozenset(c.lower() for c in caps) if caps is not None else None)


def shipped() -> Sandbox:
    """The unit as shipped (packaged beside the code: the same file as units/vfbondd.service)."""
    return parse((resources.files("vfbond") / UNIT).read_text(encoding="utf-8"))


def installed() -> Sandbox | None:
    """The unit as systemd runs it, drop-ins included; None where systemd has no such unit."""
    try:
        done = subprocess.run(["systemctl", "show", UNIT, "-p", "LoadState", *(f"-p{p}" for p in PROPERTIES)],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse(done.stdout) if "LoadState=loaded" in done.stdout.splitlines() else None


def _under(path: str, roots: tuple[str, ...]) -> str | None:
    path = posixpath.normpath(path)
    return next((r for r in roots if r == "/" or path == r or path.startswith(r + "/")), None)


def _hidden(path: str, sb: Sandbox) -> str | None:
    """Why vfbondd cannot see `path` at all, or None."""
    if sb.protect_home in ("yes", "tmpfs") and (root := _under(path, HOME)):
        return f"under {root}, which ProtectHome={sb.protect_home} in {UNIT} hides from vfbondd"
    if sb.private_tmp and (root := _under(path, TMP)):
        return f"under {root}, which PrivateTmp=yes in {UNIT} makes vfbondd's own: nothing outside sees it"
    return None


def _read_only(path: str, sb: Sandbox) -> str | None:
    if _under(path, sb.writable) or _under(path, API):
        return None
    if sb.protect_home == "read-only" and _under(path, HOME):
        return f"read-only to vfbondd (ProtectHome=read-only in {UNIT})"
    if _under(path, READ_ONLY.get(sb.protect_system, ())):
        return f"read-only to vfbondd (ProtectSystem={sb.protect_system} in {UNIT})"
    return None


def write_fix(path: str, example: str, sb: Sandbox, directory: str | None = None) -> str:
    """How to let vfbondd write `path` (or a file in `directory`) under `sb`: a path the unit does not
    hide, or the drop-in that makes the directory writable. vfbondd's own refusal at start says the same."""
    if _hidden(path, sb):
        return f"use a path outside {', '.join(HOME + TMP)}, e.g. {example}"
    return f"{EDIT} ReadWritePaths={directory or path}"


def _writes(field: str, path: str, breaks: str, example: str, sb: Sandbox, directory: str | None = None,
            refused: str = "") -> Misfit | None:
    """`path`, or a file in `directory`, that vfbondd must write: hidden, private or read-only is a misfit.
    `refused` is added where vfbondd may not write at all (not in a private /tmp, where it can)."""
    directory = directory or path
    hidden = _hidden(path, sb)
    if not (why := hidden or _read_only(directory, sb)):
        return None
    private = sb.private_tmp and _under(path, TMP)
    return Misfit(field, f"{path if hidden else directory} is {why}: {breaks}{'' if private else refused}",
                  write_fix(path, example, sb, directory))


def misfits(config: Config, sb: Sandbox) -> list[Misfit]:
    """Every path and port of `config` that vfbondd could not use under the unit `sb`."""
    m, d = config.metrics, config.daemon
    found = [
        _writes("daemon.socket", d.socket, "bondctl and snmpd's agent cannot reach the control socket",
                DaemonConfig.socket, sb, posixpath.dirname(d.socket), REFUSED),
        _writes("daemon.state_dir", d.state_dir, "the event history and move counters are not kept",
                DaemonConfig.state_dir, sb, refused=REFUSED),
        _writes("ifcfg_dir", config.ifcfg_dir, "the ifcfg backend cannot write the bond's files",
                Config.ifcfg_dir, sb),
    ]
    if m.textfile_dir is not None:
        found.append(_writes("metrics.textfile_dir", m.textfile_dir, "node_exporter gets no vfbond metrics",
                             "/var/lib/node_exporter/textfile_collector", sb))
    for i, target in enumerate(config.alerts.syslog):
        if target.ca_file and (why := _hidden(target.ca_file, sb)):
            found.append(Misfit(f"alerts.syslog[{i}].ca_file", f"{target.ca_file} is {why}: the config check "
                                "at start fails, vfbondd exits 2 and the unit does not restart it",
                                "install it outside /home and /root, e.g. /etc/pki/tls/certs/syslog-ca.pem, or "
                                f"{EDIT} ProtectHome=read-only"))
    if m.http_port is not None and m.http_port < 1024 and sb.capabilities is not None \
            and "cap_net_bind_service" not in sb.capabilities:
        found.append(Misfit("metrics.http_port", f"port {m.http_port} is below 1024 and {UNIT} does not give "
                            "vfbondd CAP_NET_BIND_SERVICE: the HTTP endpoint cannot listen",
                            f"use a port from 1024 up, e.g. 9862, or {EDIT} CapabilityBoundingSet=CAP_NET_BIND_SERVICE "
                            "(it adds to the unit's set)"))
    return [f for f in found if f is not None]
