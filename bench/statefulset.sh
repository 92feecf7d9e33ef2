#!/usr/bin/env bash
# Benchmark: StatefulSet scale-up time on one real node — from `kubectl apply` of a
# StatefulSet of N replicas (busybox, one 16Mi local-path volume per pod) to
# `status.readyReplicas == N`, for N = 3 and 20, OrderedReady (pod N+1 only after pod N
# is Ready) and Parallel. The tool users would pick instead (k3s, or kube-controller-
# manager with a kubelet) cannot be installed on this machine (no internet, not in
# Debian), so there is no side-by-side run: the script prints tug's medians only.
#
# Usage: bench/statefulset.sh             3 runs per case
#        QUICK=1 bench/statefulset.sh     1 run per case
#        TUG=/path/to/tug                 (default: target/release/tug, else the debug build)
# Needs root, kubectl and busybox-static. Takes the e2e lock (/run/tug-e2e.lock) so it
# never shares the node bridge with a test cluster. Everything it starts is stopped by PID.
set -euo pipefail

cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
[ -x "$TUG" ] || TUG=${CARGO_TARGET_DIR:-target}/debug/tug
[ -x "$TUG" ] || { echo "bench/statefulset.sh: no tug binary (cargo build -p tug)" >&2; exit 1; }
RUNS=3
[ "${QUICK:-}" = 1 ] && RUNS=1

exec 9>/run/tug-e2e.lock
flock 9
DIR=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
export KUBECONFIG=$DIR/kubeconfig.yaml
UP=
cleanup() {
  if [ -n "$UP" ]; then
    kubectl delete pods --all --timeout=60s >/dev/null 2>&1 || true
    kill -INT "$UP" 2>/dev/null || true
    wait "$UP" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT

scripts/busybox-image.sh "$DIR" "$TUG" >/dev/null
"$TUG" up --bind-address 127.0.0.1 --port "$PORT" --data-dir "$DIR" 2>"$DIR/up.log" &
UP=$!
until kubectl get nodes 2>/dev/null | grep -q ' Ready'; do sleep 0.1; done

now_ms() { date +%s%3N; }

# One StatefulSet of $1 replicas with policy $2: prints the milliseconds to all Ready.
scale_up() {
  local n=$1 policy=$2
  cat > "$DIR/sts.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: bench}
spec: {clusterIP: None, selector: {app: bench}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: bench}
spec:
  serviceName: bench
  replicas: $n
  podManagementPolicy: $policy
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox:latest, imagePullPolicy: Never, command: [sleep, '3600'], volumeMounts: [{name: data, mountPath: /data}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 16Mi}}}
YAML
  local start end
  start=$(now_ms)
  kubectl apply -f "$DIR/sts.yaml" >/dev/null
  until [ "$(kubectl get statefulset bench -o 'jsonpath={.status.readyReplicas}')" = "$n" ]; do sleep 0.05; done
  end=$(now_ms)
  echo $((end - start))
  kubectl delete statefulset bench --wait=false >/dev/null
  kubectl delete pods -l app=bench --timeout=120s >/dev/null 2>&1 || true
  until [ -z "$(kubectl get pods -l app=bench -o name)" ]; do sleep 0.1; done
  kubectl delete pvc --all --timeout=60s >/dev/null
}

median() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "StatefulSet scale-up, API call to all Ready ($RUNS run(s) each; $TUG)"
printf '%-26s %12s   %s\n' case "median ms" "runs (ms)"
for n in 3 20; do
  for policy in OrderedReady Parallel; do
    runs=()
    for _ in $(seq "$RUNS"); do runs+=("$(scale_up "$n" "$policy")"); done
    printf '%-26s %12s   %s\n' "$n replicas, $policy" "$(echo "${runs[*]}" | median)" "${runs[*]}"
  done
done
echo "No comparison: k3s / kube-controller-manager cannot be installed here (offline, not in Debian)."
