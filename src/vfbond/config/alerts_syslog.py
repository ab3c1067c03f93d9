"""Syslog servers that receive each alert (RFC 5424 over udp, tcp or tls)."""

from __future__ import annotations

from typing import Any

from vfbond.config import checks
from vfbond.config.reader import Reader
from vfbond.config.schema import SyslogTarget


def read_syslog(r: Reader, raw: Any) -> tuple[SyslogTarget, ...]:
    syslog = []
    listed = "write it as a YAML list of servers, e.g. [{host: 192.0.2.50, protocol: tcp}], or []"
    for i, item in enumerate(r.items(raw, "alerts.syslog", listed)):
        p = f"alerts.syslog[{i}]"
        s = r.section(item, p, ("host", "port", "protocol", "ca_file", "app_name"))
        host = r.get(s, p, "host", str, None)
        if not host:
            r.problem(f"{p}.host", "missing", "name the syslog server, e.g. host: 192.0.2.50")
            continue
        protocol = r.choice(s, p, "protocol", ("udp", "tcp", "tls"), "udp")
        ca_file = r.get(s, p, "ca_file", str, None, checks.absolute,
                        "give the absolute path of the CA bundle, e.g. /etc/pki/tls/certs/syslog-ca.pem")
        if ca_file and r.host_checks and (why := checks.ca_file(ca_file)):
            r.problem(f"{p}.ca_file", why, "install the server's CA certificate (PEM) there, or correct the path")
        port = r.get(s, p, "port", int, 6514 if protocol == "tls" else 514, checks.port,
                     "use the server's port, e.g. 514 or 6514 for tls")
        syslog.append(SyslogTarget(host=host, port=port, protocol=protocol, ca_file=ca_file,
                                   app_name=r.get(s, p, "app_name", str, "vfbondd")))
    return tuple(syslog)
