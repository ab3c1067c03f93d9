"""Alerts: where events go (syslog, SNMP) and how much of a flapping link gets through."""

from __future__ import annotations

from typing import Any

from vfbond.config import checks
from vfbond.config.alerts_snmp import read_snmp
from vfbond.config.alerts_syslog import read_syslog
from vfbond.config.reader import Reader
from vfbond.config.schema import AlertConfig


def read_alerts(r: Reader, raw: Any) -> AlertConfig:
    sect = r.section(raw, "alerts", ("syslog", "snmp", "queue_size", "flap_limit"))
    return AlertConfig(syslog=read_syslog(r, sect.get("syslog")), snmp=read_snmp(r, sect.get("snmp")),
                       queue_size=r.get(sect, "alerts", "queue_size", int, 1000, checks.positive,
                                        "use 1 or more; 1000 is the default"),
                       flap_limit=r.get(sect, "alerts", "flap_limit", int, 10, checks.positive,
                                        "use 1 or more events per minute; 10 is the default"))
