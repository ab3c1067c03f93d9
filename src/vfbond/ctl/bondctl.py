"""bondctl: inspect and steer the supervised bond. Every read command takes --json."""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from vfbond import __version__, paths
from vfbond.ctl.render import health, status_text
from vfbond.ctl.sources import absent, gather_status, why_absent
from vfbond.judge.condition import Condition
from vfbond.shared import exitcodes
from vfbond.shared.protocol import APPLY_TIMEOUT, QUICK_TIMEOUT, CommandError, DaemonNotRunning, request

# Imports are made in the commands that need them: `status` and `health` answered by vfbondd need
# no netlink (pyroute2), no config (PyYAML, ssl), no backend (dbus-fast), and start in a fraction
# of the time (bench/startup.py).

DEFAULT_SOCKET = paths.SOCKET
BOND_READER = ("bond", "socket", "json", "timeout")  # the common options of a command that reads a bond


def _exit_codes_text() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:>2}  {text}" for code, text in exitcodes.TABLE.items())


def _event_types_text() -> str:
    """Every event type, from the enum itself, so the help cannot leave one out."""
    from vfbond.shared.events import EventType

    return textwrap.fill(", ".join(t.value for t in EventType), width=100, initial_indent="  ",
                         subsequent_indent="  ")


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def cmd_status(args: argparse.Namespace) -> int:
    data = gather_status(args.bond, args.socket, args.timeout)
    if data is None:
        if args.json:
            _print_json(absent(args.bond))
        else:
            print(f"{args.bond}: not present: {why_absent()}")
        return exitcodes.NO_BOND
    if args.json:
        _print_json(data)
    else:
        print(status_text(args.bond, data))
    return exitcodes.OK if data.get("bond") else exitcodes.NO_BOND


HEALTH_CODES = {Condition.OK: exitcodes.OK, Condition.DEGRADED: exitcodes.DEGRADED, Condition.DOWN: exitcodes.DOWN,
                Condition.ABSENT: exitcodes.NO_BOND}


def cmd_health(args: argparse.Namespace) -> int:
    data = gather_status(args.bond, args.socket, args.timeout)
    verdict, why = health(args.bond, data)
    if data is None:
        why = f"{why}: {why_absent()}"
    code = HEALTH_CODES[verdict]
    if args.json:
        _print_json({"bond": args.bond, "health": verdict, "detail": why, "exit_code": code})
    else:
        print(f"{args.bond}: {verdict}: {why}")
    return code


def cmd_apply(args: argparse.Namespace) -> int:
    import asyncio

    from vfbond import config as config_mod
    from vfbond.backends.base import BackendError
    from vfbond.backends.choose import select_backend
    from vfbond.bond_model import PlanError
    from vfbond.configure.apply import apply_and_verify
    from vfbond.kernel.rtnl import Rtnl

    config = config_mod.load(args.config)

    def say(line: str) -> None:
        if not args.json:
            print(f"  {line}", file=sys.stderr, flush=True)

    async def run() -> tuple[str, list[str]]:
        async with Rtnl() as ipr:
            backend, reason = await select_backend(config, ipr)
            say(f"backend {backend.name}: {reason}")
            try:
                outcome = await apply_and_verify(backend, config.bond, ipr, say, dry_run=args.dry_run)
            finally:
                await backend.close()
        return backend.name, [str(c) for c in outcome.changes]

    try:
        backend, changes = asyncio.run(run())
    except PlanError as exc:
        raise CommandError(f"{exc} (nothing was changed)", exitcodes.USAGE) from None
    except BackendError as exc:
        raise CommandError(str(exc), exitcodes.FAILED) from None
    if args.json:
        _print_json({"backend": backend, "changes": changes, "applied": bool(changes) and not args.dry_run})
    elif not changes:
        print(f"{config.bond.name} already matches {args.config}: nothing to change")
    else:
        verb = "would change" if args.dry_run else "changed"
        print(f"{config.bond.name}: {verb} via {backend}: " + "; ".join(changes))
    return exitcodes.OK


def cmd_reload(args: argparse.Namespace) -> int:
    result = request(args.socket, "reload", timeout=args.timeout or APPLY_TIMEOUT)
    if args.json:
        _print_json(result)
        return exitcodes.OK
    print(f"reloaded {result['reloaded']}")
    if result.get("restart_needed"):
        print(f"{', '.join(result['restart_needed'])} changed: takes effect after `systemctl restart vfbondd`")
    return exitcodes.OK


def _duration(text: str) -> float:
    """'90', '90s', '15m', '2h' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use e.g. 90s, 15m or 2h") from None
    if not 0 < seconds <= 7 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: a pause lasts more than 0 s and at most 7 days")
    return seconds


def cmd_pause(args: argparse.Namespace) -> int:
    result = request(args.socket, "pause", {"reason": args.reason, "seconds": args.seconds},
                     timeout=args.timeout or QUICK_TIMEOUT)
    if args.json:
        _print_json(result)
    else:
        until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(result["until"])) if result["until"] else \
            "`bondctl resume`"
        print(f"paused until {until}: vfbondd does not converge the bond; it still reports and fails over")
    return exitcodes.OK


def cmd_resume(args: argparse.Namespace) -> int:
    result = request(args.socket, "resume", timeout=args.timeout or QUICK_TIMEOUT)
    if args.json:
        _print_json(result)
    else:
        print("resumed: vfbondd converges the bond to its config again" if result["resumed"] else "was not paused")
    return exitcodes.OK


def cmd_check_config(args: argparse.Namespace) -> int:
    from vfbond import config as config_mod
    from vfbond.config import advice

    config = config_mod.load(args.config)
    warnings = [str(w) for w in advice.warnings(config)]
    if args.json:
        _print_json({"config": args.config, "valid": True, "bond": config.bond.name,
                     "slaves": [s.describe() for s in config.bond.slaves], "warnings": warnings})
    else:
        print(f"{args.config}: valid ({config.bond.name} over "
              f"{' + '.join(s.describe() for s in config.bond.slaves)})")
        for warning in warnings:
            print(f"warning: {warning}")
    return exitcodes.OK


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command whose module is imported when it runs (doctor, day0: netlink, D-Bus, YAML, MIME; events,
    watch, simulate-failover: what `health` and `status`, run in monitoring loops, need not load)."""
    def run(args: argparse.Namespace) -> int:
        func: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), name)
        return func(args)
    return run


def _option(*flags: str, **kwargs: Any) -> argparse.ArgumentParser:
    """One common option, as a parent parser a command includes when it reads the option."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(*flags, **kwargs)
    return parent


def _common_options() -> dict[str, argparse.ArgumentParser]:
    """The options several commands share; each command lists only those it reads."""
    def timeout(default: float, which: str) -> argparse.ArgumentParser:
        return _option("--timeout", type=float, metavar="SECONDS",
                       help=f"how long to wait for vfbondd's answer (default: {default:g}{which})")

    return {
        "bond": _option("--bond", default="bond0", help="bond interface (default: %(default)s)"),
        "socket": _option("--socket", default=DEFAULT_SOCKET,
                          help="vfbondd's control socket: give daemon.socket here when the config sets another "
                               "(default: %(default)s)"),
        "json": _option("--json", action="store_true", help="machine-readable output"),
        "timeout": timeout(QUICK_TIMEOUT, ""),
        "apply_timeout": timeout(APPLY_TIMEOUT, ": the config may be applied meanwhile"),
    }


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """bondctl's arguments; the options of doctor and day0 are added only when `command` is one of
    them (or None: all), since they live in those modules, which are slow to import."""
    p = argparse.ArgumentParser(
        prog="bondctl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Inspect and steer an active-backup bond over two SR-IOV VFs supervised by vfbondd.\n"
                    "Read commands work without vfbondd (kernel state only) unless noted; all take --json.\n"
                    "bondctl does not read the config for its socket or state directory: when daemon.socket or\n"
                    "daemon.state_dir is not the default, pass --socket or --state-dir.",
        epilog=_exit_codes_text())
    p.add_argument("--version", action="version", version=f"bondctl {__version__}")
    options = _common_options()
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str, description: str,
            uses: tuple[str, ...] = ("socket", "json", "timeout")) -> argparse.ArgumentParser:
        """A command with only the common options it reads (`uses`: keys of _common_options)."""
        sp = sub.add_parser(name, parents=[options[u] for u in uses], help=help, description=description,
                            epilog=_exit_codes_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.set_defaults(func=func)
        return sp

    add("status", cmd_status, "show the bond, its slaves, health and the last failover",
        "Show bond options, each slave (active marked *, MII, health verdict, link failure count, own and current\n"
        "MAC, driver, PCI address, NUMA node, probe results), per VF whether the host locked its MAC, an outage\n"
        "after a PF reset and its driver's last kernel line with a hint, the last failover and warnings.\n"
        "Uses vfbondd when it runs, else reads the kernel directly. Exit 3 when the bond does not exist.", BOND_READER)
    add("health", cmd_health, "one-line verdict for scripts and monitoring: exit 0 ok, 6 degraded, 7 down",
        "Print ok / degraded / down with the reason, and exit 0 (ok), 6 (degraded: one usable slave or a\n"
        "standing warning), 7 (down: no usable slave) or 3 (no bond). Suited to monitoring checks.", BOND_READER)
    ev = add("events", _lazy("vfbond.ctl.events", "cmd_events"), "list recorded events, oldest first",
             "List the persisted event history, oldest first. Asks vfbondd; when it is not running, reads the\n"
             "history file it left in --state-dir (and says so).")
    if command in (None, "events"):  # only its help shows them: health must not load the events module
        ev.description = f"{ev.description}\n\nevent types:\n{_event_types_text()}"
    ev.add_argument("-n", "--count", type=int, default=50, help="how many of the newest events (default: %(default)s)")
    ev.add_argument("-f", "--follow", action="store_true",
                    help="then print each event as vfbondd records it, until Ctrl-C (exit 0); with --json, one "
                         "object per line. Follows vfbondd again after a restart")
    ev.add_argument("--state-dir", default=paths.STATE_DIR,
                    help="where vfbondd keeps events.jsonl (default: %(default)s)")
    wt = add("watch", _lazy("vfbond.ctl.watch", "cmd_watch"),
             "live view: status and newest events, redrawn as they change",
             "Show the status table and the newest events, redrawn whenever vfbondd records an event (a\n"
             "failover appears at once) and every --interval seconds, until Ctrl-C (exit 0). For an operator\n"
             "in a maintenance window. With --json, one line per redraw: the status as `status --json` gives it\n"
             "and the events recorded since the line before.", BOND_READER)
    wt.add_argument("--interval", type=float, default=2.0, help="seconds between redraws without events "
                                                                "(default: %(default)s)")
    wt.add_argument("--events", type=int, default=8, help="how many of the newest events to show "
                                                          "(default: %(default)s)")
    sim = add("simulate-failover", _lazy("vfbond.ctl.simulate", "cmd_simulate"),
              "switch to the backup now and measure it (needs vfbondd)",
              "Make the backup slave active through vfbondd, then prove traffic flows on it: ARP requests for\n"
              "the gateway (an IPv4 probes.targets entry, else bond.ipv4.gateway; on a bond without IPv4,\n"
              "Neighbor Solicitations for an IPv6 probes.targets entry, else bond.ipv6.gateway) go out through\n"
              "the bond every 10 ms and the first answer after the switch must come through the new slave.\n"
              "Reports the switch time, the time to the first answer and the probes lost. Without --restore the\n"
              "bond stays on the backup (vfbondd does not fail back) until it fails or you switch again.\n"
              "Refuses (exit 5), touching nothing, when the backup is not healthy, since that would cut the VM\n"
              "off, or when there is no gateway or probe target to prove it with, unless --force. Exit 1 if the\n"
              "gateway never answered, 4 if vfbondd is not running.", ("socket", "json", "apply_timeout"))
    sim.add_argument("--restore", action="store_true", help="switch back to the original slave afterwards")
    sim.add_argument("--hold", type=float, default=1.0, help="seconds on the backup before --restore (default: 1)")
    sim.add_argument("--force", action="store_true",
                     help="switch even to an unhealthy backup, or without a target to prove traffic with")
    ap = add("apply", cmd_apply, "create or update the bond from the config, then verify it",
             "Validate the config, find the VFs (by MAC or name), compare with the kernel, and change only\n"
             "what differs through the chosen backend (NetworkManager, ifcfg files or netlink); then read the\n"
             "bond back until it matches. An existing bond (e.g. from day0 nmcli lines) is adopted and updated\n"
             "in place. Invalid config or missing VF: exit 2, nothing changed. With vfbondd running, prefer\n"
             "`bondctl reload`, which does the same inside the daemon.", ("json",))
    ap.add_argument("-c", "--config", default=paths.CONFIG, help="config file (default: %(default)s)")
    ap.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    add("reload", cmd_reload, "make vfbondd re-read its config (like SIGHUP)",
        "Ask vfbondd to re-read its config. An invalid config is refused with its errors and the running\n"
        "config is kept (exit 2). Reloads take turns: a second one waits for the first. Prints the settings\n"
        "that need a restart of vfbondd to take effect.", ("socket", "json", "apply_timeout"))
    pz = add("pause", cmd_pause, "maintenance: stop converging the bond until resume (needs vfbondd)",
             "Before changing the bond by hand: vfbondd stops putting the bond back to its config (a deleted\n"
             "bond, a released slave, an option changed) until `bondctl resume` or --for runs out. It still\n"
             "watches, reports, alerts and fails over. The pause survives a restart of vfbondd; status, SNMP\n"
             "and the metrics show it. Drift seen while paused is repaired at resume.")
    pz.add_argument("--reason", required=True, help="why, for the events and status (e.g. a ticket number)")
    pz.add_argument("--for", dest="seconds", type=_duration, metavar="DURATION",
                    help="end the pause by itself after this long (90s, 15m, 2h; at most 7 days); "
                         "default: until `bondctl resume`")
    add("resume", cmd_resume, "end maintenance: converge the bond to its config again (needs vfbondd)",
        "End a pause: vfbondd compares the bond with its config at once and repairs what drifted.")
    cc = add("check-config", cmd_check_config, "validate a config file without touching anything",
             "Validate the config; print every problem as file:line: field: what is wrong. Fix: how (with --json:\n"
             "valid false and the problems, each with file, line, field, message and fix). Exit 2 if invalid.\n"
             "Changes nothing. A valid config may still get warnings (exit 0): a path or port the\n"
             "vfbondd unit would not allow, with the drop-in that fixes it.", ("json",))
    cc.add_argument("-c", "--config", default=paths.CONFIG, help="config file (default: %(default)s)")
    dr = add("doctor", _lazy("vfbond.ctl.doctor", "cmd_doctor"),
             "pre-flight checks of the bond and vfbondd, each PASS/WARN/FAIL with a fix",
             "Check what an operator needs before trusting the bond: the config is valid; both VFs are present\n"
             "(found by MAC or name) and enslaved; their MACs differ; they come from different NICs where the VM\n"
             "can see it (physical function, NUMA node); fail_over_mac=active and no VF carries another's MAC;\n"
             "bond and slaves share one MTU; miimon on and kernel ARP monitoring off; addresses on the bond,\n"
             "none on a slave; a VF whose MAC the host locked has fail_over_mac=active (from vfbondd's probe);\n"
             "no recent VF driver or bonding kernel line needs the host (with what to do there);\n"
             "probes watch the path behind each VF; the bond matches the config; NetworkManager and\n"
             "ifcfg/initscripts do not both manage it; vfbondd runs (on this config) and its unit is enabled.\n"
             "Changes nothing.", ("bond", "socket", "json"))
    if command in (None, "doctor"):
        from vfbond.ctl import doctor

        doctor.add_arguments(dr)
    dr.epilog = ("exit codes:\n  0  every check passed\n  6  warnings, no failure\n  1  at least one check failed\n"
                 "  2  bad arguments")
    d0 = add("day0", _lazy("vfbond.ctl.day0", "cmd_render"),
             "render cloud-init day0 user-data: config, offline install, vfbondd unit",
             "`day0 render` validates the config (invalid: exit 2, nothing written) and prints cloud-init user-data\n"
             "that writes it to /etc/vfbond/vfbond.yaml, writes the vfbondd unit, installs vfbond offline from a\n"
             "wheelhouse in the VM (--wheelhouse) into the venv /opt/vfbond, checks the config with the installed\n"
             "version, then enables and starts vfbondd. --mime gives the multipart form Cisco ESC passes: a\n"
             "text/cloud-boothook part doing the same once per instance early in boot (bond up before\n"
             "network-online.target), then the plain text/cloud-config part. See cloud-init/README.md.", ("json",))
    if command in (None, "day0"):
        from vfbond.ctl import day0

        day0.add_arguments(d0)
    return p


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `bondctl events | head` ends quietly
    argv = sys.argv[1:] if argv is None else argv
    # The command is the first word that is no option (bondctl's own options take no value).
    args = parser(next((a for a in argv if not a.startswith("-")), None)).parse_args(argv)
    try:
        return args.func(args)
    except DaemonNotRunning as exc:
        from vfbond.ctl.configured import hint

        print(f"bondctl {args.command}: vfbondd is not running (no socket at {exc}"
              f"{hint('socket', str(exc), '--socket')}). Start it: systemctl start vfbondd", file=sys.stderr)
        return exitcodes.NO_DAEMON
    except CommandError as exc:
        print(f"bondctl {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except Exception as exc:
        from vfbond.config import ConfigError  # loaded already by the command that read a config

        if not isinstance(exc, ConfigError):
            raise
        if getattr(args, "json", False):  # what a script reads: stdout, as JSON, like the valid answer
            _print_json({"config": getattr(args, "config", None), "valid": False,
                         "problems": [asdict(p) for p in exc.problems]})
        else:
            print(exc, file=sys.stderr)
        return exitcodes.USAGE


if __name__ == "__main__":
    sys.exit(main())
