#!/usr/bin/env bash
# Benchmark: the workload controllers — pods created per second for 1,000
# Deployments x 10 replicas on 100 simulated nodes, and on one real node the time
# for a 100-replica Deployment to become available and to roll (see bench/workloads.py).
#
# Usage: bench/workloads.sh            full run
#        QUICK=1 bench/workloads.sh    quick run (100 x 10 on 20 nodes; 20 real replicas)
#        TUG=/path/to/tug NODES=n DEPLOYMENTS=n REPLICAS=n BIG=n REAL_NODE=0 BENCH_TMPDIR=/some/disk
# Needs python3 (standard library only), kubectl, and root for the real-node part.
set -euo pipefail

cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
[ -x "$TUG" ] || { echo "bench/workloads.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
TUG=$(realpath "$TUG")
export TUG
exec python3 bench/workloads.py
