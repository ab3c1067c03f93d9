"""vfbondd, the daemon. The entry point `vfbond.daemon:main` lives here."""

from vfbond.daemon.cli import main

__all__ = ["main"]
