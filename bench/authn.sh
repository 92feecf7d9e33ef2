#!/usr/bin/env bash
# Benchmark: the cost of each way of authenticating. GET requests per second
# on one `tug server`, the same object fetched with the admin client
# certificate, a static token, a ServiceAccount JWT and a bootstrap token, in
# interleaved rounds of one run; prints each next to the client certificate's
# figure (see bench/authn.py). Under a minute.
#
# Usage: bench/authn.sh
#        TUG=/path/to/tug N=1500 ROUNDS=3 CLIENTS=8 BENCH_TMPDIR=/some/disk
# Needs python3 (standard library only).
set -euo pipefail

cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
[ -x "$TUG" ] || { echo "bench/authn.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
export TUG
exec python3 bench/authn.py
