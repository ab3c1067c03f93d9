#!/usr/bin/env bash
# Benchmarks (root): one lab boot running tests/lab/test_bench.py. Prints the tables that go into
# BENCHMARKS.md and leaves them in lab/.cache/bench-results/bench.md.
#   VFBOND_BENCH_TRIALS=N        failover trials per column on veth (default 20)
#   VFBOND_BENCH_SRIOV_TRIALS=N  the same on igbvf VFs (default 10; a PF reset takes seconds to undo)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
OUT="$ROOT/lab/.cache/bench-results"
VFBOND_LAB_MARK=bench VFBOND_LAB_RESULTS="$OUT" bash "$ROOT/lab/run.sh" -s -q tests/lab/test_bench.py "$@"
echo; echo "bench tables: $OUT/bench-*.md"
