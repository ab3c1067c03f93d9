#!/usr/bin/env bash
# Generate the man pages bondctl(1) and vfbondd(8) from their argparse parsers with argparse-manpage
# (the `test` extra), into man/ or the directory given. The pages are committed; the wheel ships them
# (pyproject.toml data-files: <venv>/share/man) and tests/unit/test_manpages.py fails when they are stale.
#   scripts/manpages.sh [OUTDIR]     PYTHON=... to use another interpreter than .venv/bin/python
# The date in the pages' footer is the release date of the package's version in CHANGELOG.md, so the
# same sources always give the same pages.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/man}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's parsers, whatever the venv has

version="$("$PYTHON" -c 'import vfbond; print(vfbond.__version__)')"
released="$(sed -n "s/^## ${version//./\\.} - \([0-9-]*\)\$/\1/p" "$ROOT/CHANGELOG.md" | head -n1)"
if [ -z "$released" ]; then
    echo "manpages.sh: CHANGELOG.md has no heading '## $version - YYYY-MM-DD'; add this version's entry" >&2
    exit 2
fi
export SOURCE_DATE_EPOCH="$(date -u -d "$released" +%s)"

page() {  # page NAME SECTION MODULE DESCRIPTION
    "$PYTHON" -c 'import sys; from argparse_manpage.cli import main; sys.argv[0] = "argparse-manpage"; main()' \
        --module "$3" --function parser --prog "$1" --description "$4" \
        --project-name vfbond --version "$version" --manual-section "$2" --manual-title "vfbond manual" \
        --url https://github.com/vfbond/vfbond --include "$ROOT/man/$1.include" --output "$OUT/$1.$2"
}

mkdir -p "$OUT"
page bondctl 1 vfbond.ctl.bondctl "show and steer the bond that vfbondd supervises"
page vfbondd 8 vfbond.daemon.cli "bonding and failover supervisor for SR-IOV VFs"
