"""Alerts: where events go (syslog, SNMP) and how much of a flapping link gets through."""

from __future__ import annotations

from typing import Any

from vfbond.config import checks
from vfbond.config.alerts_snmp import read_snmp
from vfbond.config.alerts_syslog import read_syslog
from vfbond.config.reader import Reader
from vfbond.config.schema import AlertConfig


def read_alerts(r: Reader, raw: Any) -> AlertConfig:
    sect = r.section(raw, "alerts", AlertConfig)
    return AlertConfig(syslog=read_syslog(r, sect.raw.get("syslog")), snmp=read_snmp(r, sect.raw.get("snmp")),
                       queue_size=sect.get("queue_size", int, checks.positive,
                                           "use 1 or more; {default} is the default"),
                       flap_limit=sect.get("flap_limit", int, checks.positive,
                                           "use 1 or more events per minute; {default} is the default"))
