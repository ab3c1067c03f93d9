"""Value checks: each takes a value of the right type and says what is wrong with it, or None.

Host checks (the control socket's group exists, a TLS CA file loads) look at this machine; the
readers skip them when the file is meant for another one (`bondctl day0 render`).
"""

from __future__ import annotations

import grp
import ipaddress
import re
import ssl
from collections.abc import Callable

# Each matched whole (fullmatch): `$` would also match before a final newline.
MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
IFNAME_RE = re.compile(r"[^\s/:]{1,15}")
# A label is an SNMP string (pass_persist is a line protocol: a newline would forge the next line), a
# Prometheus label value and a word in status output: letters, digits and . _ - only.
LABEL_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def within(low: int, high: int, unit: str = "") -> Callable[[int], str | None]:
    """A range check whose message names the range."""
    def check(v: int) -> str | None:
        shown = str(v) if abs(v) < 10**40 else f"a {len(str(abs(v)))}-digit number"
        return None if low <= v <= high else f"{shown} is not {low}..{high}{unit}"
    return check


def non_negative(v: int) -> str | None:
    return None if v >= 0 else "must be 0 or more"


def positive(v: int) -> str | None:
    return None if v > 0 else "must be more than 0"


def bounce_after(v: int) -> str | None:
    # igbvf regains carrier 4-8 s after its PF is back: a shorter bounce would hit a VF still recovering.
    return None if v == 0 or 5 <= v <= 3600 else f"{v} is neither 0 nor 5..3600 seconds"


def absolute(v: str) -> str | None:
    return None if v.startswith("/") else f"{v!r} is relative (to whatever directory runs us)"


def ip(v: str) -> str | None:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return f"{v!r} is not an IP address"
    return None


def gateway(v: str) -> str | None:
    if "%" in v:  # ipaddress accepts a zone; the route's device is the bond anyway
        return f"{v!r} names a zone"
    return ip(v)


def port(v: int) -> str | None:
    return None if 1 <= v <= 65535 else f"{v} is not a port (1..65535)"


def group(v: str) -> str | None:
    try:
        grp.getgrnam(v)
    except KeyError:
        return f"no group {v!r} on this host"
    return None


def ca_file(v: str) -> str | None:
    """Loaded the way the syslog sink loads it, so whatever would stop the sink stops the config."""
    try:
        ssl.create_default_context(cafile=v)
    except ssl.SSLError as exc:  # an OSError too: first
        return f"{v} holds no PEM certificate ({exc.reason or exc})"
    except OSError as exc:
        return f"{v} cannot be read: {exc.strerror or exc}"
    return None


def engine_id(v: str) -> str | None:
    """snmpEngineID: 5 to 32 octets (RFC 3411), written in hex."""
    digits = v.removeprefix("0x")
    if not re.fullmatch(r"([0-9a-fA-F]{2}){5,32}", digits):
        return f"{v!r} is not an engine ID"
    return None


def mac(v: str) -> str | None:
    if not MAC_RE.fullmatch(v.lower()):
        return f"{v!r} is not a MAC address"
    if int(v[:2], 16) & 1:  # the I/G bit: a group address, never a NIC's own
        return f"{v} is a multicast address, not a VF's own"
    if not int(v.replace(":", ""), 16):
        return f"{v} is all-zero, not a VF's own"
    return None


def ifname(v: str) -> str | None:
    return None if IFNAME_RE.fullmatch(v) else f"{v!r} is not a valid interface name"


def label(v: str) -> str | None:
    return None if LABEL_RE.fullmatch(v) else f"{v!r} is not 1..32 of A-Za-z0-9_.-"
