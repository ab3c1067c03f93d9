"""Events into the systemd journal as native fields, or as one structured line on stdout without it.

The native protocol goes through logging-journald's JournaldTransport: pure Python (libsystemd's
binding, systemd-python, needs headers and a compiler that a RHEL VM without internet may lack),
maintained, and it handles the binary-safe value form and the memfd path for large entries.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from logging_journald import JournaldTransport

from vfbond.shared.events import Event, EventType

JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
IDENTIFIER = "vfbondd"
FACILITY_DAEMON = 3

# Stable MESSAGE_IDs, one per event type (`journalctl MESSAGE_ID=...` finds every failover).
# Generated once at random as systemd recommends; never change a published one.
MESSAGE_IDS: dict[EventType, str] = {
    EventType.FAILOVER: "1b45a1e6b5694995bd788180d9080d47",
    EventType.FAILBACK: "7b0d6e21ae9f44a29caeb5e7d2e19dd5",
    EventType.SLAVE_DOWN: "0e7702b5f1774e0bbbfcbf26431eb79d",
    EventType.SLAVE_UP: "9ff3a1b9954d49b5b041d0b169d1fb9e",
    EventType.SLAVE_MISSING: "48d2fbbf8f3a42239485f55bff169b08",
    EventType.SLAVE_RETURNED: "c59808774d6b437e86d394b0e6e8d8f9",
    EventType.BOND_DEGRADED: "0e889317a3fa456c9de3214f4810c146",
    EventType.BOND_RESTORED: "eb13cd9cb54b48f0879a1da869025741",
    EventType.BOND_ISOLATED: "a8b10d679f3148798d93a837af76cb59",
    EventType.MAC_CHANGED: "7923dcea29e242b9879df68cdd83d9b3",
    EventType.FLAP_SUMMARY: "addd97ebe4df413d9800e0d5e5528c6d",
    EventType.WARNING: "2ef9953406534a1486e231869daa336e",
    EventType.DAEMON: "88101d956efd447ba4dd81d4eda1348c",
    EventType.KERNEL_MESSAGE: "260fe59274d64d26aad67673ae05f1c8",
    EventType.PF_RESET: "90340aa2a37b4e6ead93a3f3ca3cc3e0",
    EventType.RECOVERED: "19ee49c2a7a1438abf0d57bd7b84abc0",
    EventType.RECOVERY_ATTEMPT: "038e0152c0a6442281acb5edab1934cc",
    EventType.FAILOVER_VERIFIED: "d45a2a2a513b40dea8a1102d80763e5f",
    EventType.FAILOVER_UNVERIFIED: "5de4f212f8124ae193a1dab842d6615b",
    EventType.PEERS_NOT_NOTIFIED: "1eb3a8c4730847d9859319b0dadd399e",
    EventType.CONVERGED: "9a4ffbdafcef43169640b627f887baae",
    EventType.PAUSED: "6934980d9d684054aa071568ca38d070",
    EventType.RESUMED: "c09d2c6ba1da42fdaaf9716660f95507",
    EventType.ON_STANDBY: "b804b11051494939a0b47e0886ebae74",
    EventType.OFF_STANDBY: "d1cd7785b2f04efba903e8cd27ff2314",
    EventType.MIGRATION_DETACHED: "32114494e0284b83b30c2b5c8c747082",
    EventType.MIGRATION_ATTACHED: "16b0c0db183c4b99a6bcec94b3ea5d61",
    EventType.VFS_NOT_RETURNED: "a9b714beb2014cac81ab668a73eebf06",
}


def journal_fields(event: Event) -> dict[str, Any]:
    """The event as journal fields; fields without a value are left out."""
    fields: dict[str, Any] = {
        "MESSAGE": event.message(),
        "MESSAGE_ID": MESSAGE_IDS[event.type],
        "PRIORITY": int(event.severity),
        "SYSLOG_IDENTIFIER": IDENTIFIER,
        "SYSLOG_FACILITY": FACILITY_DAEMON,
        "EVENT_TYPE": event.type.value,
        "BOND": event.bond,
        "SLAVE": event.slave,
        "OLD_ACTIVE": event.old_active,
        "NEW_ACTIVE": event.new_active,
        "REASON": event.reason or None,
        "DETAILS": json.dumps(event.details, sort_keys=True) if event.details else None,
    }
    return {key: value for key, value in fields.items() if value is not None}


class JournaldSink:
    name = "journald"

    def __init__(self, socket_path: Path = JOURNAL_SOCKET, timeout: float = 5.0) -> None:
        # Unconnected: each send addresses the path, as sd_journal_sendv() does, so a journald
        # restart (which replaces the socket) needs no reconnect.
        self._transport = JournaldTransport(socket_path, connected=False)
        # A journald too busy to read would block sendto; time out instead so the queue retries.
        self._transport.socket.settimeout(timeout)

    async def send(self, event: Event) -> None:
        await asyncio.to_thread(self._transport.send, journal_fields(event).items())

    async def close(self) -> None:
        self._transport.socket.close()


class StdoutSink:
    """One JSON line per event, with the `<N>` priority prefix that journald's stdout reader understands."""

    name = "stdout"

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self._stream = stream

    async def send(self, event: Event) -> None:
        fields = journal_fields(event)
        line = f"<{fields.pop('PRIORITY')}>{json.dumps(fields)}\n"
        await asyncio.to_thread(self._write, line)  # a stalled pipe must not stall the loop

    def _write(self, line: str) -> None:
        self._stream.write(line)
        self._stream.flush()

    async def close(self) -> None:
        return None


def journal_sink(socket_path: Path = JOURNAL_SOCKET, stream: TextIO = sys.stdout) -> JournaldSink | StdoutSink:
    """The native journal when its socket exists, else stdout (which systemd also puts in the journal)."""
    return JournaldSink(socket_path) if socket_path.exists() else StdoutSink(stream)
