"""What the config file names for vfbondd's socket and state directory: for bondctl's hints only.

bondctl does not take its socket or state directory from the config (README "Config paths"): the
running vfbondd's socket is the truth, and the file may already name another one that takes effect
only at vfbondd's next restart (a reload would then knock on a door nobody opens, systemctl's too);
the file is root's alone (0600) while members of daemon.socket_group run bondctl as well; and
`bondctl health`, run every few seconds, must not parse YAML. So the flags say where, and when bondctl
finds nothing where it looked, this names what the file says instead.
"""

from __future__ import annotations

from pathlib import Path

from vfbond import paths


def named(field: str) -> str | None:
    """daemon.<field> as the config file at paths.CONFIG writes it; None when it cannot be read or says
    nothing (the file is not validated here: a hint needs only the one value)."""
    from vfbond.config import ConfigError, yaml_source

    try:
        doc = yaml_source.read(Path(paths.CONFIG).read_text(encoding="utf-8"), paths.CONFIG).data
    except (OSError, UnicodeDecodeError, ConfigError):
        return None
    daemon = doc.get("daemon") if isinstance(doc, dict) else None
    value = daemon.get(field) if isinstance(daemon, dict) else None
    return value if isinstance(value, str) else None


def hint(field: str, used: str, flag: str) -> str:
    """'; <config> names daemon.<field> X: pass <flag> X', when the config names another path than `used`."""
    other = named(field)
    if other is None or Path(other) == Path(used):
        return ""
    return f"; {paths.CONFIG} names daemon.{field} {other}: pass {flag} {other}"
