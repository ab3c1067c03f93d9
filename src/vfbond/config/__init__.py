"""Load vfbond.yaml and validate it into typed dataclasses.

Every problem is reported at once as `file:line: field: what is wrong. Fix: how`, and nothing
is touched when the file is invalid: callers only act on a returned `Config`.

The modules, by job: `schema` the dataclasses (each default written once, there); `yaml_source`
the YAML text (line map, depth and alias guards); `reader` typed access that records problems;
`checks` the value checks; one reader module per section (`bond`, `ip`, `probes`, `alerts`,
`alerts_syslog`, `alerts_snmp`, `daemon`, `metrics`); `loader` the file and the whole document.
A valid config may still get warnings (`advice`): a path or port the systemd unit would not allow
(`unit_fit`), secrets in a file others can read.
"""

from vfbond.config.loader import DEFAULT_PATH, load, parse
from vfbond.config.problems import ConfigError, Problem
from vfbond.config.schema import (
    AlertConfig,
    BondConfig,
    Config,
    DaemonConfig,
    FailoverConfig,
    IPConfig,
    MetricsConfig,
    ProbeConfig,
    SlaveSpec,
    SnmpTarget,
    StandbySpec,
    SyslogTarget,
)

__all__ = ["DEFAULT_PATH", "AlertConfig", "BondConfig", "Config", "ConfigError", "DaemonConfig", "FailoverConfig",
           "IPConfig", "MetricsConfig", "Problem", "ProbeConfig", "SlaveSpec", "SnmpTarget", "StandbySpec",
           "SyslogTarget", "load", "parse"]
