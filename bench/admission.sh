#!/usr/bin/env bash
# Benchmark: Pod creates/s with the admission chain on (LimitRange, ResourceQuota,
# PodSecurity restricted, ServiceAccount all doing work) vs off, same run.
#
# Usage: bench/admission.sh                 (500 pods x 3 rounds each way, 8 clients)
#        QUOTA=0 bench/admission.sh         (the same without a ResourceQuota)
#        TUG=/path/to/tug PODS=n ROUNDS=n CLIENTS=n BENCH_TMPDIR=/some/disk bench/admission.sh
# Needs python3 (standard library only).
set -euo pipefail

cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
[ -x "$TUG" ] || { echo "bench/admission.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
export TUG
exec python3 bench/admission.py
