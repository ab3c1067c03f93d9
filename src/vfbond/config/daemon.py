"""vfbondd itself: its control socket, its state, and how it fails over."""

from __future__ import annotations

from typing import Any

from vfbond.config import checks
from vfbond.config.reader import Reader
from vfbond.config.schema import DaemonConfig, FailoverConfig


def read_failover(r: Reader, raw: Any) -> FailoverConfig:
    fo = r.section(raw, "failover", ("fast", "bounce_after_s"))
    return FailoverConfig(fast=r.get(fo, "failover", "fast", bool, True),
                          bounce_after_s=r.get(fo, "failover", "bounce_after_s", int, 30, checks.bounce_after,
                                               "set 0 (never bounce) or 5..3600 seconds, e.g. 30"))


def read_daemon(r: Reader, raw: Any) -> DaemonConfig:
    dm = r.section(raw, "daemon", ("socket", "socket_group", "state_dir", "history"))
    return DaemonConfig(
        socket=r.get(dm, "daemon", "socket", str, DaemonConfig.socket),
        socket_group=r.get(dm, "daemon", "socket_group", str, None, checks.group if r.host_checks else None,
                           "create the group (groupadd NAME) or remove socket_group: for a root-only socket"),
        state_dir=r.get(dm, "daemon", "state_dir", str, DaemonConfig.state_dir),
        history=r.get(dm, "daemon", "history", int, 1000, checks.positive, "use 1 or more; 1000 is the default"))
