"""vfbondd, the daemon. The entry point `vfbond.daemon:main` lives here."""

from vfbond.daemon.lifecycle import main

__all__ = ["main"]
