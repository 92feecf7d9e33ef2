#!/usr/bin/env bash
# Benchmark: custom resources (a CRD's kind with a structural schema) against ConfigMaps
# on one `tug server`: creates/s, LIST time and watch events/s, interleaved rounds, with the
# ratio (goal: within 20%). See bench/crd.py.
#
# Usage: bench/crd.sh               (~1 minute, 2,000 objects per round)
#        QUICK=1 bench/crd.sh       (~15 s, 300 objects per round)
#        TUG=/path/to/tug CLIENTS=8 bench/crd.sh
# Needs python3 (standard library only).
set -euo pipefail

cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
[ -x "$TUG" ] || { echo "bench/crd.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
export TUG
exec python3 bench/crd.py
