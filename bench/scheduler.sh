#!/usr/bin/env bash
# Benchmark: scheduler throughput — pods bound per second by `tug scheduler`
# with 100 simulated nodes (Node objects, no agents) and 10,000 pending pods,
# against kube-scheduler's published 100-900 pods/s (see bench/scheduler.py).
#
# Usage: bench/scheduler.sh            full run (100 nodes, 10,000 pods)
#        QUICK=1 bench/scheduler.sh    quick run (20 nodes, 1,000 pods)
#        TUG=/path/to/tug NODES=n PODS=n BENCH_TMPDIR=/some/disk
# Needs python3 (standard library only).
set -euo pipefail

cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
[ -x "$TUG" ] || { echo "bench/scheduler.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
export TUG
exec python3 bench/scheduler.py
