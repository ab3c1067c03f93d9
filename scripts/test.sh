#!/usr/bin/env bash
# The one test command (README, .ci/run): install what is missing, then run
#   0. lint: ruff (rules in pyproject.toml), mypy on src/ and lint-imports (the layers in pyproject.toml);
#      no JUnit, it counts through its exit code
#   1. unit + host tests (tests/unit, tests/host: network namespaces the tests make themselves)
#   2. the kernel lab: ONE guest boot with real bonding and NetworkManager (lab/run.sh)
#   3. the systemd lab: ONE guest boot with a real systemd and cloud-init (lab/run-systemd.sh)
#   4. the lab's skips: only those lab/expected-skips.txt names (scripts/lab_skips.py)
# Exits non-zero if any part failed or could not run; a lab that cannot boot is a failure.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/lab/.cache/test-results"
rm -rf "$OUT"; mkdir -p "$OUT/lab" "$OUT/systemd"

bash scripts/setup.sh || { echo "test: setup failed: nothing was tested" >&2; exit 1; }

declare -A RC
echo; echo "==> [test] lint (ruff, mypy, lint-imports)"
RC[lint]=0
.venv/bin/ruff check src tests || RC[lint]=$?
.venv/bin/mypy || RC[lint]=$?
.venv/bin/lint-imports || RC[lint]=$?

echo; echo "==> [test] unit + host tests"
.venv/bin/python -m pytest --junitxml="$OUT/host.xml" tests/unit tests/host
RC[host]=$?

echo; echo "==> [test] kernel lab (one guest boot)"
VFBOND_LAB_RESULTS="$OUT/lab" bash lab/run.sh
RC[lab]=$?
cp -f "$OUT/lab/junit.xml" "$OUT/lab.xml" 2>/dev/null

echo; echo "==> [test] systemd + cloud-init lab (one guest boot)"
VFBOND_LAB_SYSTEMD_RESULTS="$OUT/systemd" bash lab/run-systemd.sh
RC[systemd]=$?
cp -f "$OUT/systemd/junit.xml" "$OUT/systemd.xml" 2>/dev/null

echo; echo "==> [test] lab skips: only those lab/expected-skips.txt names (a guest not detected skips all)"
.venv/bin/python scripts/lab_skips.py lab/expected-skips.txt "$OUT/lab.xml" "$OUT/systemd.xml"
RC[skips]=$?

echo; echo "==> [test] summary"
fail=0
junit_suites=0
for part in "${!RC[@]}"; do
    printf '    %-8s %s\n' "$part" "$([ "${RC[$part]}" = 0 ] && echo ok || echo "FAILED (exit ${RC[$part]})")"
    [ "${RC[$part]}" = 0 ] || fail=1
    # lint and the skip check write no JUnit: they count through RC only
    [ "$part" = lint ] || [ "$part" = skips ] || junit_suites=$((junit_suites + 1))
done
# One closing line over every suite, from the JUnit files (a suite that never reported counts as failed).
.venv/bin/python - "$OUT" "$junit_suites" <<'PY'
import sys, glob, xml.etree.ElementTree as ET
passed = failed = skipped = 0
files = glob.glob(f"{sys.argv[1]}/*.xml")
for path in files:
    for suite in ET.parse(path).getroot().iter("testsuite"):
        total, fail = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skip = int(suite.get("skipped", 0))
        passed += total - fail - skip; failed += fail; skipped += skip
failed += int(sys.argv[2]) - len(files)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit "$fail"
