"""Build or check the wheelhouse that the VMs install vfbond from, offline.

The VMs we target are RHEL 8.8+/9.2+ and rebuilds: glibc 2.28, CPython 3.11 or 3.12. A wheel built
on this machine (a newer glibc) may not install there, and pip on the VM only says "no matching
distribution" with no network to fall back on. So the wheelhouse is fetched for those platforms,
and checked: every wheel must carry a tag that such a VM accepts.

  .venv/bin/python scripts/wheelhouse.py build DIR   # vfbond from this checkout + its dependencies
  .venv/bin/python scripts/wheelhouse.py check DIR   # exit 1, naming each wheel a target would refuse
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ((3, 11), (3, 12))  # default targets; --python narrows them (day0 installs with one minor)
GLIBC = (2, 28)  # RHEL 8.8+; RHEL 9 has 2.34, so a wheel fit for 8 fits both
ARCH = "x86_64"


def platforms(glibc: tuple[int, int] = GLIBC, arch: str = ARCH) -> list[str]:
    """manylinux tags a glibc accepts, newest first (as pip orders them), with the legacy aliases."""
    major, newest = glibc
    tags = [f"manylinux_{major}_{minor}_{arch}" for minor in range(newest, 4, -1)]
    legacy = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
    return tags + [f"{name}_{arch}" for (ma, mi), name in legacy.items() if (ma, mi) <= glibc]


def accepted(python: tuple[int, int]) -> set[Tag]:
    plats = platforms()
    return set(cpython_tags(python, platforms=plats)) | set(compatible_tags(python, platforms=plats))


def problems(wheelhouse: Path, pythons: tuple[tuple[int, int], ...] = PYTHONS) -> list[str]:
    """What a glibc-2.28 VM would refuse: a wheel no target Python accepts (built for a newer glibc),
    and a project with no wheel that some target Python accepts."""
    found: list[str] = []
    usable: dict[str, set[tuple[int, int]]] = {}  # project -> target Pythons that can install it
    for wheel in sorted(wheelhouse.glob("*.whl")):
        name, _, _, tags = parse_wheel_filename(wheel.name)
        fit = {py for py in pythons if tags & accepted(py)}
        usable.setdefault(name, set()).update(fit)
        if not fit:
            found.append(f"{wheel.name} installs on no target (glibc {GLIBC[0]}.{GLIBC[1]}, CPython "
                         f"{' or '.join(f'{ma}.{mi}' for ma, mi in pythons)})")
    for project, fits in sorted(usable.items()):
        for ma, mi in sorted(set(pythons) - fits):
            found.append(f"{project}: no wheel for CPython {ma}.{mi} on glibc {GLIBC[0]}.{GLIBC[1]}")
    return found


def build(wheelhouse: Path, pythons: tuple[tuple[int, int], ...] = PYTHONS) -> None:
    """vfbond and every dependency as wheels for the targets. Pure-Python wheels are built here (some
    dependencies publish only an sdist, e.g. sdnotify); compiled ones are fetched for the targets'
    glibc, never built against this machine's."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip"]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([*pip, "wheel", "-q", "-w", tmp, str(ROOT)], check=True)
        for wheel in Path(tmp).glob("*.whl"):
            if parse_wheel_filename(wheel.name)[3] & {Tag("py3", "none", "any"), Tag("py2", "none", "any")}:
                shutil.copy2(wheel, wheelhouse)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for major, minor in pythons:
        print(f"wheelhouse: dependencies for CPython {major}.{minor}, glibc {GLIBC[0]}.{GLIBC[1]}", flush=True)
        subprocess.run([*pip, "download", "-q", "-d", str(wheelhouse), "--find-links", str(wheelhouse),
                        "--only-binary=:all:", "--implementation", "cp", "--python-version", f"{major}.{minor}",
                        *(arg for p in platforms() for arg in ("--platform", p)), *deps], check=True)


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build", "check"))
    parser.add_argument("wheelhouse", type=Path)
    parser.add_argument("--python", action="append", metavar="X.Y",
                        help="a target CPython (repeatable; default: 3.11 and 3.12)")
    args = parser.parse_args(argv)
    pythons = tuple(_version(v) for v in args.python) if args.python else PYTHONS
    if args.action == "build":
        build(args.wheelhouse, pythons)
    bad = problems(args.wheelhouse, pythons)
    for problem in bad:
        print(f"wheelhouse: {problem}. Fix: fetch it with `scripts/wheelhouse.py build` (manylinux_2_28 "
              f"or older), not `pip wheel` on a newer machine", file=sys.stderr)
    if not bad:
        count = len(list(args.wheelhouse.glob("*.whl")))
        print(f"wheelhouse: {count} wheels, every project installable on glibc {GLIBC[0]}.{GLIBC[1]} with CPython "
              + " and ".join(f"{ma}.{mi}" for ma, mi in pythons))
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main())
