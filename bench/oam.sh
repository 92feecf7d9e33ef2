#!/usr/bin/env bash
# Benchmark: an OAM Application of 10 components (webservice/worker with traits) deployed
# with `tug app deploy` — the Application controller renders it, records a revision and
# applies 10 Deployments, Services and ConfigMaps — timed until every Deployment exists,
# vs `kubectl apply -f` of the same resources already rendered (`tug app dry-run`, not
# timed): what users do without OAM (KubeVela itself is not installable here). One
# `tug server` (no node: workloads only need to exist), a fresh namespace per run,
# interleaved; prints medians and the ratio kubectl/tug.
#
# Usage: bench/oam.sh              (TUG defaults to target/release/tug)
#        TUG=/path/to/tug RUNS=20 bench/oam.sh;  QUICK=1 for 5 runs
set -euo pipefail

TUG=${TUG:-target/release/tug}
RUNS=${RUNS:-20}
[ "${QUICK:-}" = 1 ] && RUNS=5
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$TUG" ] || { echo "bench/oam.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "bench/oam.sh: kubectl is needed" >&2; exit 1; }
python3 -c "import kubernetes" 2>/dev/null || { echo "bench/oam.sh: pip install kubernetes" >&2; exit 1; }
TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")

WORK=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TUG" server --disable-scheduler --data-dir "$WORK/server" --bind-address 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do
  [ -f "$WORK/server/kubeconfig.yaml" ] && KUBECONFIG="$WORK/server/kubeconfig.yaml" kubectl get --raw /apis/core.oam.dev/v1beta1 >/dev/null 2>&1 && break
  sleep 0.1
done

python3 "$HERE/oam.py" "$TUG" "$WORK" "$RUNS" "$WORK/server/kubeconfig.yaml"
