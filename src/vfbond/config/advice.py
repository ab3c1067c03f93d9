"""What a valid config may still get wrong on this host, as warnings with their fix.

`check-config` and `doctor` print these; vfbondd does not refuse such a config, since a drop-in
may already allow what the shipped unit does not.
"""

from __future__ import annotations

from vfbond.config import unit_fit
from vfbond.config.problems import Misfit
from vfbond.config.schema import Config


def warnings(config: Config) -> list[Misfit]:
    """The config against the unit as systemd runs it here, or as shipped where systemd has none."""
    return unit_fit.misfits(config, unit_fit.installed() or unit_fit.shipped())
