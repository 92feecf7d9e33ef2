#!/usr/bin/env bash
# Benchmark: the Kubernetes API of `tug server` beside the raw figures of the
# same machine, in one run:
#   1. ConfigMap (~1 KiB) creates per second, 1 client and 16 concurrent clients
#      (raw: SQLite commits/s in WAL mode with synchronous=FULL, as tug's store;
#      etcd 3.4 puts/s through its HTTP/JSON gateway)
#   2. single-object GET latency and LIST of 10,000 Pods (raw: etcd range of the
#      same Pod JSON)
#   3. watch-event delivery latency (raw: etcd watch through the gateway)
#   4. idle RSS after start and after the load, and start -> /readyz time.
# Every process is started by bench/apiserver.py itself, on the same disk, and
# stopped by PID at the end; the temporary directory is removed.
#
# Usage: bench/apiserver.sh              full run (10,000 pods; a few minutes)
#        QUICK=1 bench/apiserver.sh      quick run (1,000 pods; under a minute)
#        TUG=/path/to/tug ETCD=etcd CLIENTS=16 SKIP_ETCD=1 JSON_OUT=results.json
#        BENCH_TMPDIR=/some/disk  (where the data dirs go; default $TMPDIR or /tmp)
# Needs python3 (standard library only) and, for the etcd column, Debian's
# etcd-server (apt-get install -y etcd-server).
set -euo pipefail

cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
command -v python3 >/dev/null || { echo "bench/apiserver.sh: python3 is required" >&2; exit 1; }
[ -x "$TUG" ] || { echo "bench/apiserver.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
if [ "${SKIP_ETCD:-0}" != 1 ] && ! command -v "${ETCD:-etcd}" >/dev/null; then
  echo "bench/apiserver.sh: no etcd binary; the etcd column is skipped (apt-get install -y etcd-server)" >&2
  export SKIP_ETCD=1
fi
export TUG
exec python3 bench/apiserver.py
