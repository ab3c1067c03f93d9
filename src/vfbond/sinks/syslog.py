"""RFC 5424 syslog to a remote server over UDP (RFC 5426), TCP (RFC 6587 octet counting) or TLS (RFC 5425).

Written here rather than taken from rfc5424-logging-handler: that package is unmaintained since
2019, pulls in pytz and tzlocal, connects in its constructor, blocks on its sockets, and as a
logging.Handler swallows send errors in emit(), so the queue could neither retry nor count
deliveries. The formatter and an asyncio stream are a few dozen lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from datetime import UTC, datetime

from vfbond.config import SyslogTarget
from vfbond.shared.events import Event

# Structured data needs an SD-ID of the form name@<Private Enterprise Number>. 32473 is the PEN
# RFC 5612 reserves for documentation, the same arc VFBOND-MIB uses; a site with its own PEN
# changes it here and in the MIB together.
PEN = 32473
SD_ID = f"vfbond@{PEN}"
DETAILS_SD_ID = f"vfbondDetails@{PEN}"
FACILITY_DAEMON = 3
NILVALUE = "-"
BOM = b"\xef\xbb\xbf"  # marks MSG as UTF-8 (RFC 5424 section 6.4)


def sd_escape(value: str) -> str:
    """PARAM-VALUE escaping: '"', '\\' and ']' get a backslash (RFC 5424 section 6.3.3)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _sd_name(name: str) -> str:
    """SD-NAME: 1..32 printable US-ASCII characters except '=', ' ', ']' and '"'."""
    return "".join(c for c in name if 33 <= ord(c) <= 126 and c not in '= ]"')[:32] or "_"


def _header_field(value: str, limit: int) -> str:
    """HOSTNAME, APP-NAME, PROCID and MSGID are printable US-ASCII without spaces, or '-'."""
    return "".join(c for c in value if 33 <= ord(c) <= 126)[:limit] or NILVALUE


def _sd_element(sd_id: str, params: dict[str, object]) -> str:
    body = "".join(f' {_sd_name(k)}="{sd_escape(str(v))}"' for k, v in params.items() if v is not None)
    return f"[{sd_id}{body}]"


def format_message(event: Event, *, hostname: str, app_name: str, procid: str) -> bytes:
    """The event as one RFC 5424 message, facility daemon, MSGID the event type."""
    pri = FACILITY_DAEMON * 8 + int(event.severity)
    timestamp = datetime.fromtimestamp(event.time, UTC).isoformat(timespec="microseconds")
    header = " ".join((f"<{pri}>1", timestamp.replace("+00:00", "Z"), _header_field(hostname, 255),
                       _header_field(app_name, 48), _header_field(procid, 128),
                       _header_field(event.type.value, 32)))
    sd = _sd_element(SD_ID, {"bond": event.bond, "slave": event.slave, "old": event.old_active,
                             "new": event.new_active, "reason": event.reason or None, "type": event.type.value})
    if event.details:
        sd += _sd_element(DETAILS_SD_ID, dict(event.details))
    return f"{header} {sd} ".encode() + BOM + event.message().encode()


def octet_frame(message: bytes) -> bytes:
    """RFC 6587 section 3.4.1 octet counting: the length, a space, the message."""
    return str(len(message)).encode() + b" " + message


class SyslogSink:
    """One syslog server; each server gets its own sink (and queue), so one down server holds up no other."""

    def __init__(self, target: SyslogTarget, *, hostname: str | None = None, connect_timeout: float = 5.0) -> None:
        self.target = target
        self.name = f"syslog {target.protocol}://{target.host}:{target.port}"
        self._hostname = hostname or socket.gethostname()
        self._procid = str(os.getpid())
        self._connect_timeout = connect_timeout
        self._ssl = ssl.create_default_context(cafile=target.ca_file) if target.protocol == "tls" else None
        self._udp: asyncio.DatagramTransport | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, event: Event) -> None:
        message = format_message(event, hostname=self._hostname, app_name=self.target.app_name,
                                 procid=self._procid)
        if self.target.protocol == "udp":
            await self._send_datagram(message)
        else:
            await self._send_stream(octet_frame(message))

    async def _send_datagram(self, message: bytes) -> None:
        # UDP has no acknowledgement: a datagram to a down server is lost (use tcp/tls for that).
        if self._udp is None:
            loop = asyncio.get_running_loop()
            self._udp, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=(self.target.host, self.target.port))
        self._udp.sendto(message)

    async def _send_stream(self, frame: bytes) -> None:
        writer = await self._stream()
        try:
            writer.write(frame)
            await writer.drain()
        except BaseException:  # an error, or the queue's timeout cancelling a drain() that is stuck
            self._drop_stream()
            raise

    async def _stream(self) -> asyncio.StreamWriter:
        # rsyslog never writes back, so EOF on the read side means the server closed the
        # connection: reconnect now instead of writing the next event into a dead socket.
        reader, writer = self._reader, self._writer
        if reader is not None and writer is not None and not writer.is_closing() and not reader.at_eof():
            return writer
        self._drop_stream()
        async with asyncio.timeout(self._connect_timeout):  # not wait_for: it can drop a cancel on 3.11
            new_reader, new_writer = await asyncio.open_connection(
                self.target.host, self.target.port, ssl=self._ssl,
                server_hostname=self.target.host if self._ssl else None)
        self._reader, self._writer = new_reader, new_writer
        return new_writer

    def _drop_stream(self) -> None:
        """Abort a failed connection; the event being sent is retried on a new one."""
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):  # reset by the peer meanwhile; nothing left to release
                await self._writer.wait_closed()
            self._reader = self._writer = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
