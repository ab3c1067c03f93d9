"""Alert sinks: the journal, remote syslog servers and SNMP trap receivers, each behind its own queue.

The daemon's use:

    alerts = make_dispatcher(config.alerts)
    alerts.start()              # in the running loop
    alerts.publish(event)       # sync, never blocks
    alerts.stats()              # per sink, for bondctl status
    new = await dispatcher_beside(reloaded.alerts, alerts)  # builds only the sinks whose settings changed
    await new.take_over(alerts); publish to new from here; await alerts.close(keep=new)
    await alerts.close()        # at shutdown
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from vfbond.config import AlertConfig, SnmpTarget, SyslogTarget
from vfbond.sinks.base import Dispatcher, Sink, SinkQueue, SinkUnavailable
from vfbond.sinks.journald import JOURNAL_SOCKET, journal_sink
from vfbond.sinks.syslog import SyslogSink

__all__ = ["Dispatcher", "Sink", "SinkQueue", "SinkUnavailable", "build_sinks", "dispatcher_beside",
           "make_dispatcher"]

JOURNAL = "journal"  # the journal sink's spec: it has no settings, so a reload never rebuilds it
SinkSpec = str | SyslogTarget | SnmpTarget


def sink_specs(alerts: AlertConfig) -> list[SinkSpec]:
    """What each sink is built from: always the journal (or stdout), then each syslog server and trap receiver."""
    return [JOURNAL, *alerts.syslog, *alerts.snmp]


def build_sink(spec: SinkSpec, *, journal_socket: Path = JOURNAL_SOCKET, stdout: TextIO = sys.stdout) -> Sink:
    if isinstance(spec, SyslogTarget):
        return SyslogSink(spec)
    if isinstance(spec, SnmpTarget):
        from vfbond.sinks.snmp import SnmpSink  # pysnmp loads only when traps are configured

        return SnmpSink(spec)
    return journal_sink(journal_socket, stdout)


def build_sinks(alerts: AlertConfig, *, journal_socket: Path = JOURNAL_SOCKET,
                stdout: TextIO = sys.stdout) -> list[Sink]:
    """Every configured sink, in the order of sink_specs."""
    return [build_sink(spec, journal_socket=journal_socket, stdout=stdout) for spec in sink_specs(alerts)]


def make_dispatcher(alerts: AlertConfig) -> Dispatcher:
    return Dispatcher.of([SinkQueue(build_sink(spec), alerts.queue_size, spec=spec) for spec in sink_specs(alerts)],
                         alerts.queue_size)


async def dispatcher_beside(alerts: AlertConfig, running: Dispatcher) -> Dispatcher:
    """The dispatcher for `alerts` (a reload's), sharing with `running` the queue of every sink whose
    settings did not change; only new or changed sinks are built. When one cannot be built (a TLS
    ca_file gone), those built before it are closed and the error raised: `running` is untouched."""
    free = list(running.queues)
    queues: list[SinkQueue] = []
    built: list[SinkQueue] = []
    try:
        for spec in sink_specs(alerts):
            same = next((queue for queue in free if queue.spec == spec), None)
            if same is not None:
                free.remove(same)  # two identical targets keep two queues
                queues.append(same)
            else:
                built.append(SinkQueue(build_sink(spec), alerts.queue_size, spec=spec))
                queues.append(built[-1])
    except BaseException:
        await asyncio.gather(*(queue.close(0) for queue in built))
        raise
    return Dispatcher.of(queues, alerts.queue_size)
