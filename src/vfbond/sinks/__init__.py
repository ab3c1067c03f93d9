"""Alert sinks: the journal, remote syslog servers and SNMP trap receivers, each behind its own queue.

The daemon's use:

    alerts = Dispatcher(build_sinks(config.alerts), config.alerts.queue_size)
    alerts.start()              # in the running loop
    alerts.publish(event)       # sync, never blocks
    alerts.stats()              # per sink, for bondctl status
    await alerts.close()        # at shutdown
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from vfbond.config import AlertConfig
from vfbond.sinks.base import Dispatcher, Sink, SinkQueue, SinkUnavailable
from vfbond.sinks.journald import JOURNAL_SOCKET, journal_sink
from vfbond.sinks.syslog import SyslogSink

__all__ = ["Dispatcher", "Sink", "SinkQueue", "SinkUnavailable", "build_sinks"]


def build_sinks(alerts: AlertConfig, *, journal_socket: Path = JOURNAL_SOCKET,
                stdout: TextIO = sys.stdout) -> list[Sink]:
    """Every configured sink: always the journal (or stdout), then each syslog server and trap receiver."""
    sinks: list[Sink] = [journal_sink(journal_socket, stdout)]
    sinks += [SyslogSink(target) for target in alerts.syslog]
    if alerts.snmp:
        from vfbond.sinks.snmp import SnmpSink  # pysnmp loads only when traps are configured

        sinks += [SnmpSink(target) for target in alerts.snmp]
    return sinks
