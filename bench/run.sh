#!/usr/bin/env bash
# Benchmarks (root): one lab boot running tests/lab/test_bench.py and test_bench_migration.py. Prints
# the tables that go into BENCHMARKS.md and leaves them in lab/.cache/bench-results/bench-*.md.
# Extra arguments go to pytest: `-k migration` runs only the live-migration comparison, `-k "not
# migration"` everything else.
#   VFBOND_BENCH_TRIALS=N        failover trials per column on veth (default 20)
#   VFBOND_BENCH_SRIOV_TRIALS=N  the same on igbvf VFs (default 10; a PF reset takes seconds to undo)
#   VFBOND_BENCH_MIGRATION_TRIALS=N  live migrations per column (default 10; about 3 min a trial of all three)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
OUT="$ROOT/lab/.cache/bench-results"
# the failover runs take most of an hour under emulation, the migration comparison about half an hour
export VFBOND_LAB_TIMEOUT="${VFBOND_LAB_TIMEOUT:-7200}"
VFBOND_LAB_MARK=bench VFBOND_LAB_RESULTS="$OUT" bash "$ROOT/lab/run.sh" -s -q tests/lab/test_bench.py \
    tests/lab/test_bench_migration.py "$@"
echo; echo "bench tables: $OUT/bench-*.md"
