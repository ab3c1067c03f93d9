"""vfbondd itself: its control socket, its state, and how it fails over."""

from __future__ import annotations

from typing import Any

from vfbond.config import checks
from vfbond.config.reader import Reader
from vfbond.config.schema import DaemonConfig, FailoverConfig

VF_RETURN_S = (1, 86_400)  # failover.vf_return_alert_s: an alert a day late is no alert


def read_failover(r: Reader, raw: Any) -> FailoverConfig:
    sect = r.section(raw, "failover", FailoverConfig)
    return FailoverConfig(fast=sect.get("fast", bool),
                          bounce_after_s=sect.get("bounce_after_s", int, checks.bounce_after,
                                                  "set 0 (never bounce) or 5..3600 seconds, e.g. {default}"),
                          vf_return_alert_s=sect.get("vf_return_alert_s", int, checks.within(*VF_RETURN_S, " s"),
                                                     f"use {VF_RETURN_S[0]}..{VF_RETURN_S[1]} seconds, e.g. "
                                                     "{default} (a live migration takes minutes)"))


def read_daemon(r: Reader, raw: Any) -> DaemonConfig:
    sect = r.section(raw, "daemon", DaemonConfig)
    return DaemonConfig(
        socket=sect.get("socket", str, checks.absolute, "give the absolute path, e.g. {default}"),
        socket_group=sect.get("socket_group", str, checks.group if r.host_checks else None,
                              "create the group (groupadd NAME) or remove socket_group: for a root-only socket"),
        state_dir=sect.get("state_dir", str, checks.absolute, "give the absolute path, e.g. {default}"),
        history=sect.get("history", int, checks.positive, "use 1 or more; {default} is the default"))
