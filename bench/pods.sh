#!/usr/bin/env bash
# Benchmark: pod startup latency on one node — create through the API to Running,
# image present — for 100 pods on a `tug up`, p50/p99 (see bench/pods.py).
#
# Usage: bench/pods.sh            full run (100 pods)
#        QUICK=1 bench/pods.sh    quick run (20 pods)
#        TUG=/path/to/tug PODS=n BENCH_TMPDIR=/some/disk
# Needs root (pods are real), python3 with the `kubernetes` package. Takes the e2e
# tests' machine-wide lock (/run/tug-e2e.lock, in pods.py on a descriptor the pods
# never inherit): one node network at a time.
set -euo pipefail

cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
[ -x "$TUG" ] || { echo "bench/pods.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
export TUG=$(realpath "$TUG")
exec python3 bench/pods.py
