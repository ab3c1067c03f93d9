"""Syslog servers that receive each alert (RFC 5424 over udp, tcp or tls)."""

from __future__ import annotations

from typing import Any

from vfbond.config import checks
from vfbond.config.reader import FIELD, Reader
from vfbond.config.schema import SYSLOG_PROTOCOLS, SyslogTarget


def read_syslog(r: Reader, raw: Any) -> tuple[SyslogTarget, ...]:
    syslog = []
    listed = "write it as a YAML list of servers, e.g. [{host: 192.0.2.50, protocol: tcp}], or []"
    for i, item in enumerate(r.items(raw, "alerts.syslog", listed)):
        p = f"alerts.syslog[{i}]"
        s = r.section(item, p, SyslogTarget)
        host = s.get("host", str)
        if not host:
            r.problem(f"{p}.host", "missing", "name the syslog server, e.g. host: 192.0.2.50")
            continue
        protocol = s.choice("protocol", SYSLOG_PROTOCOLS)
        ca_file = s.get("ca_file", str, checks.absolute,
                        "give the absolute path of the CA bundle, e.g. /etc/pki/tls/certs/syslog-ca.pem")
        if ca_file and r.host_checks and (why := checks.ca_file(ca_file)):
            r.problem(f"{p}.ca_file", why, "install the server's CA certificate (PEM) there, or correct the path")
        port = s.get("port", int, checks.port, f"use the server's port, e.g. {s.default('port')} or "
                     f"{SyslogTarget.TLS_PORT} for tls", default=SyslogTarget.TLS_PORT if protocol == "tls" else FIELD)
        syslog.append(SyslogTarget(host=host, port=port, protocol=protocol, ca_file=ca_file,
                                   app_name=s.get("app_name", str)))
    return tuple(syslog)
