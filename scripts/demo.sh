#!/usr/bin/env bash
# The main job for a newcomer: install everything, boot the kernel lab once, and show bond0
# over two emulated VFs failing over under vfbondd (lab/demo.sh, narrated).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
VFBOND_LAB_MARK=demo VFBOND_LAB_RESULTS="$ROOT/lab/.cache/demo-results" \
    exec bash "$ROOT/lab/run.sh" -s -q --no-header -p no:warnings tests/lab/test_demo.py
