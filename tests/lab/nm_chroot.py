"""NetworkManager 1.52 (RHEL 9-class) in the lab guest: the Debian trixie root lab/setup.sh builds,
run in a chroot on the guest's own system bus, beside the guest's own 1.42.

The guest sees the host's / read-only with fresh filesystems over /var and others, so the root under
/var/lib may be hidden: it is then reached through a second read-only mount of the host's root, as
lab/run.sh's boot preamble does. An overlay with a tmpfs upper layer makes it writable for NetworkManager
(/var/lib/NetworkManager, /etc); the guest's /proc, /sys, /dev, /run/dbus, /run/udev, /run/NetworkManager,
and the temp dir that holds each lab NetworkManager's config, keyfiles and log, are bound in at the same
paths. Mounted once per boot, on first use.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from conftest import run

ROOT = Path(os.environ.get("VFBOND_LAB_NM_ROOT", "/var/lib/vfbond-lab/nm-trixie"))
HOST = Path("/run/vfbond-lab/host")  # lab/run.sh's preamble mounts the host's root here too
BASE = Path("/run/vfbond-lab/nm-trixie")
NM_BIN = "usr/sbin/NetworkManager"
# /run/NetworkManager too: its device state outlives a restart, so a switch of version is an upgrade in place.
BINDS = ("/proc", "/sys", "/dev", "/run/dbus", "/run/udev", "/run/NetworkManager", tempfile.gettempdir())


def _lower() -> Path:
    """The trixie root as the guest can read it."""
    if (ROOT / NM_BIN).exists():
        return ROOT
    if not os.path.ismount(HOST):
        HOST.mkdir(parents=True, exist_ok=True)
        run(["mount", "-t", "9p", "-o", "trans=virtio,version=9p2000.L,ro", "/dev/root", HOST])
    lower = HOST / ROOT.relative_to("/")
    if not (lower / NM_BIN).exists():
        pytest.fail(f"no NetworkManager 1.52 root at {ROOT} on the host: run `make lab-setup`", pytrace=False)
    return lower


def chroot_dir() -> Path:
    """The writable trixie root with the guest's runtime bound in (mounted on first call)."""
    merged = BASE / "root"
    if os.path.ismount(merged):
        return merged
    lower = _lower()
    BASE.mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", "mode=0755", "vfbond-nm-trixie", BASE])
    for sub in ("upper", "work", "root"):
        (BASE / sub).mkdir()
    run(["mount", "-t", "overlay", "vfbond-nm-trixie", "-o",
         f"lowerdir={lower},upperdir={BASE / 'upper'},workdir={BASE / 'work'}", merged])
    for src in BINDS:
        Path(src).mkdir(parents=True, exist_ok=True)
        target = merged / src.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        run(["mount", "--rbind", src, target])
    return merged


def argv() -> list[str]:
    """How to start NetworkManager 1.52 (its options follow)."""
    return ["chroot", str(chroot_dir()), "/" + NM_BIN]
