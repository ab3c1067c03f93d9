"""vfbond-snmp-pass: serves VFBOND-MIB's bond and slave tables to net-snmp's snmpd (pass_persist).

Why pass_persist and not AgentX: snmpd already does SNMPv1/v2c/v3, users, views and access control,
and pass_persist is in every net-snmp since 5.0 (Debian's 5.9.3, RHEL 8/9's 5.8/5.9); pysnmp has no
AgentX, the AgentX packages on PyPI are unmaintained, and the protocol here is four verbs of text.
The agent is its own process: a poll asks vfbondd for its status over the control socket (one
status read serves a whole walk, see --max-age) and never runs inside the supervisor.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import os
import sys
import syslog
import time
from collections.abc import Callable
from typing import IO

from vfbond import paths
from vfbond.mib import STATE_ROOT
from vfbond.poll.snmp_view import Oid, Row, rows
from vfbond.shared.protocol import CommandError, DaemonNotRunning, request
from vfbond.shared.status import Status

STATUS_TIMEOUT = 2.0  # snmpd waits for this process; its own timeout for the whole request is ~5 s


class View:
    """The rows of the newest status, read again once older than `max_age` seconds."""

    def __init__(self, fetch: Callable[[], Status | None], max_age: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fetch, self.max_age, self.clock = fetch, max_age, clock
        self._rows: list[Row] = []
        self._oids: list[Oid] = []
        self._at: float | None = None

    def current(self) -> tuple[list[Row], list[Oid]]:
        now = self.clock()
        if self._at is None or now - self._at > self.max_age:
            self._rows = rows(self.fetch())
            self._oids = [oid for oid, _, _ in self._rows]
            self._at = now
        return self._rows, self._oids


def answer(verb: str, oid_text: str, view: View) -> str:
    """The reply to one request, as pass_persist wants it: "OID\\nTYPE\\nVALUE\\n", or "NONE\\n"."""
    if verb == "set":
        return "not-writable\n"
    try:
        oid = tuple(int(part) for part in oid_text.strip().strip(".").split("."))
    except ValueError:
        return "NONE\n"
    found, oids = view.current()
    if verb == "get":
        at = bisect.bisect_left(oids, oid)
        hit = found[at] if at < len(oids) and oids[at] == oid else None
    else:  # getnext: the first object after `oid`, which may be any prefix of ours
        at = bisect.bisect_right(oids, oid)
        hit = found[at] if at < len(oids) else None
    if hit is None:
        return "NONE\n"
    return f".{'.'.join(map(str, hit[0]))}\n{hit[1]}\n{hit[2]}\n"


def serve(view: View, stdin: IO[str], stdout: IO[str]) -> None:
    """snmpd's side of the conversation until it closes our stdin."""
    while line := stdin.readline():
        verb = line.strip().lower()
        if verb == "ping":
            stdout.write("PONG\n")
        elif verb in ("get", "getnext"):
            stdout.write(answer(verb, stdin.readline(), view))
        elif verb == "set":  # nothing here is writable; read its OID and "TYPE VALUE" lines
            stdin.readline()
            stdin.readline()
            stdout.write(answer(verb, "", view))
        elif verb:
            stdout.write("NONE\n")
        stdout.flush()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vfbond-snmp-pass",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve vfbondd's bond state (VFBOND-MIB vfbondState) to net-snmp's snmpd.\n\n"
                    "snmpd runs it and talks to it on stdin/stdout (pass_persist protocol); it is "
                    "not meant to be run by hand\nexcept to test it (type PING, get, getnext and an "
                    "OID on separate lines).",
        epilog=f"""snmpd.conf:
  pass_persist .{STATE_ROOT} /opt/vfbond/bin/vfbond-snmp-pass
With a daemon.socket other than {paths.SOCKET} in vfbond.yaml, name it (this agent does not read the
config, which is root's alone while snmpd may run as its own user):
  pass_persist .{STATE_ROOT} /opt/vfbond/bin/vfbond-snmp-pass --socket /run/vfbond/other.sock

snmpd must be allowed to read vfbondd's control socket: run snmpd as root (RHEL's default), or set
daemon.socket_group in vfbond.yaml to snmpd's group (Debian: Debian-snmp). That group may only read
(status, events); reload and simulate-failover stay root's.

Poll it (MIB in mib/VFBOND-MIB.txt, installed into ~/.snmp/mibs or /usr/share/snmp/mibs):
  snmpwalk -v3 -l authPriv -u USER -a SHA -A AUTHPASS -x AES -X PRIVPASS -m +VFBOND-MIB HOST vfbondState

When vfbondd does not answer, vfbondDaemonRunning is false(2) and the tables are empty.

Exit codes: 0 when snmpd closes the pipe; 2 on bad options.""")
    p.add_argument("--socket", default=paths.SOCKET,
                   help=f"vfbondd's control socket, the config's daemon.socket (default {paths.SOCKET})")
    p.add_argument("--max-age", type=float, default=1.0, metavar="SECONDS",
                   help="reuse a status this young; a walk of every object costs one status read (default 1)")
    return p


class Fetch:
    """vfbondd's status, or None; says so in syslog when vfbondd stops or starts answering (snmpd
    keeps no stderr of its pass_persist children: journalctl -t vfbond-snmp-pass)."""

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.failing: str | None = None

    def __call__(self) -> Status | None:
        try:
            status: Status = request(self.socket, "status", timeout=STATUS_TIMEOUT)
        except (DaemonNotRunning, CommandError, OSError) as exc:
            # OSError: the connection to vfbondd reset or broke (it restarted, or refused us over its
            # cap). That fails this poll only; a broken pipe here is not snmpd leaving.
            why = _why(exc, self.socket)
            if why != self.failing:
                syslog.syslog(syslog.LOG_WARNING, f"vfbondd does not answer ({why}): vfbondDaemonRunning is false")
            self.failing = why
            return None
        if self.failing is not None:
            syslog.syslog(syslog.LOG_NOTICE, "vfbondd answers again")
        self.failing = None
        return status


def _why(exc: Exception, path: str) -> str:
    if isinstance(exc, CommandError):
        return str(exc)
    if isinstance(exc, DaemonNotRunning):
        return f"nothing listens on {exc}"
    return f"the connection to {path} failed: {exc}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        os.fstat(2)
    except OSError:  # snmpd starts us with stderr closed: the next file opened would become fd 2
        os.open(os.devnull, os.O_WRONLY)
    syslog.openlog("vfbond-snmp-pass", syslog.LOG_PID, syslog.LOG_DAEMON)
    fetch = Fetch(args.socket)

    # snmpd went away: nothing to answer (Fetch keeps a broken pipe to vfbondd from reaching here)
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        serve(View(fetch, args.max_age), sys.stdin, sys.stdout)
    return 0
