#!/usr/bin/env bash
# Benchmark: server-side apply against merge and strategic merge patches of the same
# Deployment on one `tug server` (writes/s, interleaved rounds), and kubectl's client-side
# apply against `kubectl apply --server-side` (wall time per run). See bench/ssa.py.
#
# Usage: bench/ssa.sh               (~1 minute)
#        QUICK=1 bench/ssa.sh       (~20 s)
#        TUG=/path/to/tug bench/ssa.sh
# Needs python3 (standard library only) and kubectl.
set -euo pipefail

cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
[ -x "$TUG" ] || { echo "bench/ssa.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "bench/ssa.sh: kubectl is required" >&2; exit 1; }
export TUG
exec python3 bench/ssa.py
