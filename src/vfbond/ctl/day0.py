"""Day0 cloud-init user-data: the config, an offline install from a wheelhouse, and the unit.

It replaces a list of nmcli lines in runcmd with something that checks itself: the config is
validated before anything is rendered, the VM installs vfbond from a wheelhouse (no internet), checks
the config again with the installed version, and starts vfbondd, which converges the bond at every
boot and supervises it.

Two forms: a plain #cloud-config, and the multipart MIME that Cisco ESC passes. The MIME adds a
text/cloud-boothook part that does the same work once per instance during cloud-init's init stage,
so the bond is converged before network-online.target instead of at the end of the boot; its
text/cloud-config part is the plain form unchanged, which re-asserts the same state idempotently.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from vfbond import config as config_mod
from vfbond.shared import exitcodes
from vfbond.shared.protocol import CommandError

PREFIX = "/opt/vfbond"  # the venv; the documented install (units/README.md)
DEFAULT_WHEELHOUSE = f"{PREFIX}/wheelhouse"
DEFAULT_PYTHON = "python3.11"  # the wheelhouse's compiled wheels are built for one Python minor
UNIT_DEST = "/etc/systemd/system/vfbondd.service"
CLI_LINK = "/usr/local/bin/bondctl"
# pip puts the man pages in the venv (pyproject's data-files); links keep them current across upgrades.
MAN_DIR = "/usr/local/share/man"
MAN_PAGES = ("man1/bondctl.1", "man8/vfbondd.8")
# units/vfbondd.service, shipped inside the package (see package-data in pyproject.toml); --unit overrides.
PACKAGED_UNIT = resources.files("vfbond") / "vfbondd.service"
MIME_BOUNDARY = "==vfbond-day0=="


class Day0Error(CommandError):
    def __init__(self, message: str) -> None:
        super().__init__(message, exitcodes.USAGE)


@dataclass(frozen=True)
class Day0:
    config_text: str  # the operator's file as written (comments kept), already validated
    unit_text: str
    wheelhouse: str = DEFAULT_WHEELHOUSE
    python: str = DEFAULT_PYTHON
    config_path: str = str(config_mod.DEFAULT_PATH)  # where the VM keeps it

    def install_lines(self) -> list[str]:
        """Shell lines shared by runcmd and the boothook; each one is safe to run again."""
        q = shlex.quote
        return [
            f"[ -x {PREFIX}/bin/python ] || {q(self.python)} -m venv {PREFIX}",
            (f"{PREFIX}/bin/pip install --quiet --no-index --no-cache-dir --disable-pip-version-check "
             f"--find-links {q(self.wheelhouse)} vfbond"),
            # The installed version checks the file it will run with: a mismatch stops day0 here.
            f"{PREFIX}/bin/vfbondd --check --config {q(self.config_path)}",
            f"ln -sf {PREFIX}/bin/bondctl {CLI_LINK}",
            f"mkdir -p {MAN_DIR}/man1 {MAN_DIR}/man8",
            *(f"ln -sf {PREFIX}/share/man/{page} {MAN_DIR}/{page}" for page in MAN_PAGES),
            "systemctl daemon-reload",
            "systemctl enable vfbondd.service",
        ]


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # File contents as literal blocks, so the user-data reads like the files it writes.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def cloud_config(d: Day0) -> str:
    script = "\n".join([
        "# vfbond day0: offline install from the wheelhouse, config check, supervisor enabled and",
        "# (re)started. reload-or-restart: a running vfbondd (baked image, MIME boothook) re-reads the config.",
        *d.install_lines(),
        "systemctl reload-or-restart vfbondd.service",
    ]) + "\n"
    doc: dict[str, Any] = {
        "write_files": [
            # 0600: the config may hold SNMPv3 keys.
            {"path": d.config_path, "owner": "root:root", "permissions": "0600", "content": d.config_text},
            {"path": UNIT_DEST, "owner": "root:root", "permissions": "0644", "content": d.unit_text},
        ],
        "runcmd": [["sh", "-euc", script]],
    }
    header = ("#cloud-config\n"
              "# vfbond day0 user-data, made by `bondctl day0 render`: writes the vfbond config and the\n"
              f"# vfbondd unit, installs vfbond offline from {d.wheelhouse} into {PREFIX}, starts vfbondd.\n")
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


def _heredoc(path: str, text: str, tag: str) -> str:
    if any(line == tag for line in text.splitlines()):
        raise Day0Error(f"{path} contains a line {tag!r}, which would end the boothook's here-document early")
    body = text if text.endswith("\n") else text + "\n"
    return f"cat > {shlex.quote(path)} <<'{tag}'\n{body}{tag}"


def boothook(d: Day0) -> str:
    config_dir = shlex.quote(str(Path(d.config_path).parent))
    return "\n".join([
        "#!/bin/sh",
        "# vfbond day0, early part: cloud-init runs boothooks at every boot in its init stage, before",
        "# write_files and runcmd; this one does the day0 work once per instance (cloud-init's own",
        "# semaphore directory), so vfbondd converges the bond before network-online.target.",
        "set -eu",
        'sem="/var/lib/cloud/instances/${INSTANCE_ID:?cloud-init sets INSTANCE_ID}/sem/vfbond_day0_boothook"',
        '[ -e "$sem" ] && exit 0',
        f"mkdir -p {config_dir}",
        "umask 077",
        _heredoc(d.config_path, d.config_text, "VFBOND_CONFIG_EOF"),
        "umask 022",
        _heredoc(UNIT_DEST, d.unit_text, "VFBOND_UNIT_EOF"),
        *d.install_lines(),
        "# --no-block: the init stage runs before sysinit.target and vfbondd starts after basic.target;",
        "# waiting for it here would deadlock the boot.",
        "systemctl start --no-block vfbondd.service",
        'mkdir -p "${sem%/*}" && date > "$sem"',
    ]) + "\n"


def _part(text: str, subtype: str, filename: str) -> MIMEText:
    # 7bit when possible so the parts stay readable (and editable by ESC templating).
    part = MIMEText(text, subtype, "us-ascii" if text.isascii() else "utf-8")
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def mime(d: Day0) -> str:
    parts = {"vfbond-boothook.sh": ("cloud-boothook", boothook(d)),
             "vfbond-cloud-config.yaml": ("cloud-config", cloud_config(d))}
    msg = MIMEMultipart()
    for filename, (subtype, text) in parts.items():
        if MIME_BOUNDARY in text:
            raise Day0Error(f"the {subtype} part contains the MIME boundary {MIME_BOUNDARY!r}")
        msg.attach(_part(text, subtype, filename))
    # A fixed boundary keeps the output reproducible (diffable, templatable).
    msg.set_boundary(MIME_BOUNDARY)
    return msg.as_string()


def load(config_path: str, unit_path: Path | None = None, wheelhouse: str = DEFAULT_WHEELHOUSE,
         python: str = DEFAULT_PYTHON) -> Day0:
    """Validate the config (ConfigError: nothing rendered) and read the unit."""
    config_mod.load(config_path, host_checks=False)  # checked again in the VM (vfbondd --check)
    unit: Path | Traversable = unit_path or PACKAGED_UNIT
    try:
        unit_text = unit.read_text(encoding="utf-8")
    except OSError as exc:
        fix = "check the --unit path" if unit_path else "reinstall vfbond, or pass --unit units/vfbondd.service"
        raise Day0Error(f"cannot read the vfbondd unit {unit}: {exc.strerror}. Fix: {fix}") from None
    if not wheelhouse.startswith("/"):
        raise Day0Error(f"--wheelhouse {wheelhouse!r} is relative; it is a path inside the VM. "
                        f"Fix: give an absolute path, e.g. {DEFAULT_WHEELHOUSE}")
    return Day0(config_text=Path(config_path).read_text(encoding="utf-8"), unit_text=unit_text,
                wheelhouse=wheelhouse, python=python)


def _write_atomic(path: Path, text: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # no such directory, not one, not writable: nothing written
        raise Day0Error(f"cannot write {path}: directory {path.parent}: {exc.strerror or exc}. "
                        "Fix: create the directory, or give -o a path in one that exists") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)  # it carries the config, which may hold SNMP keys
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # e.g. -o names a directory
            raise Day0Error(f"cannot write {path}: {exc.strerror or exc}; nothing written") from None
        raise


def cmd_render(args: argparse.Namespace) -> int:
    d = load(args.config, Path(args.unit) if args.unit else None, args.wheelhouse, args.python)
    text = mime(d) if args.mime else cloud_config(d)
    form = "mime" if args.mime else "cloud-config"
    if args.output:
        _write_atomic(Path(args.output), text)
        if args.json:
            print(json.dumps({"config": args.config, "format": form, "written": args.output}, indent=2))
        else:
            print(f"{args.output}: {form} user-data for {args.config}", file=sys.stderr)
    elif args.json:
        print(json.dumps({"config": args.config, "format": form, "user_data": text}, indent=2))
    else:
        sys.stdout.write(text)
    return exitcodes.OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["render"], help="render: print (or -o write) the user-data")
    p.add_argument("-c", "--config", default=str(config_mod.DEFAULT_PATH),
                   help="vfbond config to embed (default: %(default)s)")
    p.add_argument("--wheelhouse", default=DEFAULT_WHEELHOUSE,
                   help="directory IN THE VM holding the vfbond wheel and its dependencies (default: %(default)s)")
    p.add_argument("--python", default=DEFAULT_PYTHON,
                   help="interpreter in the VM that builds the venv; must match the wheels (default: %(default)s)")
    p.add_argument("--unit", help="vfbondd unit to embed (default: the one installed with vfbond)")
    p.add_argument("--mime", action="store_true",
                   help="multipart MIME (text/cloud-boothook + text/cloud-config), as Cisco ESC passes it")
    p.add_argument("-o", "--output", help="write here (atomically, mode 0600) instead of stdout")
