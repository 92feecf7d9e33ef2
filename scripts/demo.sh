#!/usr/bin/env bash
# The main job: build tug, build the sample image (busybox FROM scratch, no registry
# needed), bring up the all-in-one cluster (`tug up`: embedded store, API server,
# scheduler, controllers and a node agent in one process), deploy the sample app with
# kubectl — a web server and a log shipper sharing one pod — and show it answering.
# Needs root. TUG=/path/to/tug skips the build; KEEP=1 leaves the cluster running (Ctrl-C to stop) instead of cleaning up.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v kubectl >/dev/null || { echo "demo: kubectl is needed (see README)" >&2; exit 1; }

if [ -z "${TUG:-}" ]; then
  cargo build --release -p tug
fi
tug=${TUG:-$PWD/target/release/tug}
data=$(mktemp -d /tmp/tug-demo.XXXXXX)
port=${PORT:-16443}
export KUBECONFIG=$data/kubeconfig.yaml
up_pid=
links_before=$(ls /sys/class/net)
proxy_before=$(nft list table ip tug >/dev/null 2>&1 && echo yes || true)

cleanup() {
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
    kubectl delete pods --all --timeout=30s >/dev/null 2>&1 || true
    kill -INT "$up_pid"; wait "$up_pid" 2>/dev/null || true
  fi
  # The node's bridge outlives the agent (as a kubelet's CNI bridge does); the demo made it.
  for link in $(ls /sys/class/net); do
    grep -qx "$link" <<<"$links_before" || ip link del "$link" 2>/dev/null || true
  done
  # So do the service proxy's nftables rules (as kube-proxy's); the demo made them.
  [ -n "$proxy_before" ] || nft delete table ip tug 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

echo "== the sample image, built FROM scratch with Debian's static busybox"
scripts/busybox-image.sh "$data" "$tug"

echo "== tug up"
start=$(date +%s%N)
"$tug" up --data-dir "$data" --bind-address 127.0.0.1 --port "$port" 2> "$data/up.log" &
up_pid=$!
until kubectl wait --for=condition=Ready node --all --timeout=1s >/dev/null 2>&1; do
  kill -0 "$up_pid" || { cat "$data/up.log"; exit 1; }
  sleep 0.05
done
echo "node Ready $(( ($(date +%s%N) - start) / 1000000 )) ms after start; RSS $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' /proc/$up_pid/status)"
kubectl get nodes -o wide

echo "== the sample app: a web server and a log shipper in one pod"
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: shared, emptyDir: {}}]
  containers:
  - name: server
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'echo "hello from $(hostname)" > /www/index.html; exec httpd -f -v -p 80 -h /www 2>> /www/access.log']
    volumeMounts: [{name: shared, mountPath: /www}]
  - name: shipper
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'until wget -qO /www/seen-by-shipper http://127.0.0.1/; do sleep 0.2; done; exec tail -F /www/access.log']
    volumeMounts: [{name: shared, mountPath: /www}]
YAML
kubectl wait --for=condition=Ready pod/web --timeout=60s
kubectl get pods
ip=$(kubectl get pod web -o jsonpath='{.status.podIP}')
echo "== the app answers on its pod IP $ip"
/bin/busybox wget -qO- "http://$ip/"
for _ in $(seq 50); do /bin/busybox wget -qO- "http://$ip/seen-by-shipper" >/dev/null 2>&1 && break; sleep 0.1; done
echo "the shipper, over the pod's shared localhost, saw: $(/bin/busybox wget -qO- "http://$ip/seen-by-shipper")"

if [ "${KEEP:-0}" = 1 ]; then
  echo "== the cluster keeps running: export KUBECONFIG=$KUBECONFIG (Ctrl-C stops it)"
  wait "$up_pid"
fi
