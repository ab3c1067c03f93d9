"""vfbondd's command line: arguments, the config check, and the event loop the daemon runs in."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from vfbond import __version__
from vfbond import config as config_mod
from vfbond.ctl.control import AlreadyServing
from vfbond.daemon import writable
from vfbond.daemon.lifecycle import Daemon
from vfbond.shared import exitcodes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vfbondd",
        description="Supervise an active-backup bond over two SR-IOV VFs: watch link state through netlink "
                    "events, fail over at once on carrier loss, record and alert every failover.",
        epilog="Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads the config (an invalid config is "
               "refused and the old one kept). Exit codes: 0 stopped cleanly, 1 failed, 2 invalid config, "
               "9 another vfbondd already serves daemon.socket, 10 the file system refuses daemon.socket's directory "
               "or daemon.state_dir (9 and 10: nothing was touched).")
    p.add_argument("-c", "--config", default=str(config_mod.DEFAULT_PATH), help="config file (default: %(default)s)")
    p.add_argument("--check", action="store_true", help="validate the config and exit (0 valid, 2 invalid)")
    p.add_argument("--no-apply", action="store_true",
                   help="supervise the bond as it is; never create or change it (adopt only)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    p.add_argument("--version", action="version", version=f"vfbondd {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="vfbondd: %(levelname)s: %(message)s")
    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        print(exc, file=sys.stderr)
        return exitcodes.USAGE
    if args.check:
        print(f"{args.config}: valid")
        return exitcodes.OK
    try:
        writable.check(config.daemon)  # before anything is built: nothing touched the bond yet
        return asyncio.run(_serve(config, args.config, not args.no_apply))
    # Another vfbondd supervises this bond, or the file system refuses our socket or state: this one
    # touched nothing, and a restart would be refused the same way.
    except (AlreadyServing, writable.CannotWrite) as exc:
        print(f"vfbondd: {exc}", file=sys.stderr)
        return exc.code


async def _serve(config: config_mod.Config, path: str, apply: bool) -> int:
    # Built inside the running loop: netlink sockets attach to the loop that exists at creation.
    return await Daemon(config, path, apply).run()

