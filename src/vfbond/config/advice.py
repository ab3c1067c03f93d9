"""What a valid config may still get wrong on this host, as warnings with their fix.

`check-config` and `doctor` print these; vfbondd does not refuse such a config: a drop-in may
already allow what the shipped unit does not, and a file mode is the operator's to set.
"""

from __future__ import annotations

import os
import stat

from vfbond.config import unit_fit
from vfbond.config.problems import Misfit
from vfbond.config.reader import default
from vfbond.config.schema import Config, SnmpTarget


def secrets(config: Config) -> list[str]:
    """The fields holding a secret: an SNMP community other than the well-known default, USM keys."""
    found = []
    for i, t in enumerate(config.alerts.snmp):
        if t.version == "2c" and t.community != default(SnmpTarget, "community"):
            found.append(f"alerts.snmp[{i}].community")
        found += [f"alerts.snmp[{i}].{key}" for key in ("auth_key", "priv_key") if getattr(t, key)]
    return found


def secrets_exposed(config: Config, path: str, mode: int) -> Misfit | None:
    """A warning when the file at `path`, of permission bits `mode`, lets others read its secrets."""
    who = [name for name, bit in (("group", stat.S_IRGRP), ("others", stat.S_IROTH)) if mode & bit]
    held = secrets(config)
    if not who or not held:
        return None
    return Misfit(path, f"holds secrets ({', '.join(held)}) and is readable by {' and '.join(who)} "
                  f"(mode {stat.S_IMODE(mode):04o})", f"chmod 600 {path}")


def warnings(config: Config) -> list[Misfit]:
    """The config against the unit as systemd runs it here (or as shipped, where systemd has none),
    and its file's mode."""
    found = unit_fit.misfits(config, unit_fit.installed() or unit_fit.shipped())
    try:
        mode = os.stat(config.source).st_mode
    except OSError:  # parsed from a string, or gone since: no file to judge
        return found
    exposed = secrets_exposed(config, config.source, mode)
    return found + [exposed] if exposed else found
