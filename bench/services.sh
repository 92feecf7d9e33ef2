#!/usr/bin/env bash
# Service proxy and cluster DNS on a real `tug up` node (needs root, nft, ab, python3):
#  1. HTTP requests per second with ab (apache2-utils) straight to a busybox httpd pod's IP
#     and through its Service's cluster IP (the agent's nftables rules), interleaved
#     rounds: medians and the overhead ratio;
#  2. rule sync with 1,000 Services: time from `kubectl create` of 1,000 Services until
#     the node's nftables map holds all of them, and the agent's own `nft -f` time;
#  3. DNS: queries per second and p50/p99 latency against the cluster DNS (10.43.0.10)
#     from a Python UDP client keeping a window of queries in flight, next to a `dig` loop.
# Environment: TUG (binary, default target/release/tug), QUICK=1 (fewer requests and
# rounds), ROUNDS, REQUESTS, SERVICES. Takes the machine-wide e2e lock as the tests do.
set -euo pipefail
cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
TUG=$(realpath "$TUG")
if [ "${QUICK:-0}" = 1 ]; then
  ROUNDS=${ROUNDS:-3}; REQUESTS=${REQUESTS:-2000}; SERVICES=${SERVICES:-200}; QUERIES=${QUERIES:-5000}
else
  ROUNDS=${ROUNDS:-5}; REQUESTS=${REQUESTS:-10000}; SERVICES=${SERVICES:-1000}; QUERIES=${QUERIES:-30000}
fi
for tool in nft ab python3 dig kubectl; do
  command -v "$tool" >/dev/null || { echo "bench/services.sh needs $tool" >&2; exit 1; }
done

DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export KUBECONFIG=$DIR/kubeconfig.yaml
exec 9>/run/tug-e2e.lock
flock 9
UP_PID=
cleanup() {
  kubectl delete pods --all --timeout=20s >/dev/null 2>&1 || true
  if [ -n "$UP_PID" ]; then
    kill -INT "$UP_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$UP_PID" 2>/dev/null || true
    wait "$UP_PID" 2>/dev/null || true
  fi
  # Whatever pod processes are left: container supervisors name the data dir, sandboxes
  # are this binary's pod-sandbox mode.
  for p in /proc/[0-9]*; do
    cmd=$( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null || true)
    case "$cmd" in *"$DIR"*|"$TUG pod-sandbox "*) kill -KILL "${p#/proc/}" 2>/dev/null || true ;; esac
  done
  grep -o " $DIR[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  for b in $(ls /sys/class/net | grep -E '^tug[0-9a-f]{8}$' || true); do
    for v in $(ip -o link show master "$b" | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$v"; done
    ip link del "$b"
  done
  nft delete table ip tug 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
scripts/busybox-image.sh "$DIR" "$TUG" >/dev/null
# fd 9 (the lock) closed for tug up: pod processes outlive it and must not hold the lock.
"$TUG" up --bind-address 127.0.0.1 --port "$PORT" --data-dir "$DIR" 2>"$DIR/up.log" 9>&- &
UP_PID=$!
until kubectl get nodes 2>/dev/null | grep -q ' Ready'; do sleep 0.2; done

kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 8080 -h /www']
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF
until [ -n "$(kubectl get endpoints web -o jsonpath='{.subsets[0].addresses[0].ip}' 2>/dev/null)" ]; do sleep 0.2; done
POD_IP=$(kubectl get pod web -o jsonpath='{.status.podIP}')
CLUSTER_IP=$(kubectl get service web -o jsonpath='{.spec.clusterIP}')
until python3 -c "import urllib.request; urllib.request.urlopen('http://$CLUSTER_IP/', timeout=1)" 2>/dev/null; do sleep 0.2; done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
rps() { ab -q -n "$REQUESTS" -c 8 "$1" 2>/dev/null | awk '/Requests per second/ {print $4}'; }
: >"$DIR/direct"; : >"$DIR/proxied"
for _ in $(seq "$ROUNDS"); do
  rps "http://$POD_IP:8080/" >>"$DIR/direct"
  rps "http://$CLUSTER_IP/" >>"$DIR/proxied"
done
DIRECT=$(median <"$DIR/direct"); PROXIED=$(median <"$DIR/proxied")
echo "HTTP (ab -c 8, $REQUESTS requests x $ROUNDS rounds, median req/s):"
echo "  pod IP directly      $DIRECT"
echo "  through cluster IP   $PROXIED"
awk -v d="$DIRECT" -v p="$PROXIED" 'BEGIN {printf "  cluster IP / direct  %.3f (overhead %.1f%%)\n", p/d, (1-p/d)*100}'

# Rule sync with many Services.
python3 - "$SERVICES" >"$DIR/many.yaml" <<'EOF'
import sys
for i in range(int(sys.argv[1])):
    print(f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]")
EOF
in_map() {
  nft -j list map ip tug service-ips 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(len(m["map"].get("elem", [])) for m in d["nftables"] if "map" in m))' 2>/dev/null || echo 0
}
BASE=$(in_map)
START=$(date +%s%N)
kubectl create -f "$DIR/many.yaml" >/dev/null
CREATED=$(date +%s%N)
until [ "$(in_map)" -ge $((BASE + SERVICES)) ]; do sleep 0.05; done
DONE=$(date +%s%N)
# One change with all of them in place: a new Service until its rule is loaded.
: >"$DIR/one"
for i in $(seq "$ROUNDS"); do
  T0=$(date +%s%N)
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: one-%s}\nspec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n' "$i" | kubectl create -f - >/dev/null
  until [ "$(in_map)" -ge $((BASE + SERVICES + i)) ]; do sleep 0.01; done
  echo $(( ($(date +%s%N) - T0) / 1000000 )) >>"$DIR/one"
done
echo "Rule sync with $SERVICES more Services (each with 1 endpoint):"
echo "  kubectl create of all of them            $(( (CREATED - START) / 1000000 )) ms"
echo "  create start -> all in the nft map       $(( (DONE - START) / 1000000 )) ms"
echo "  one more Service -> its rule loaded      $(median <"$DIR/one") ms (median of $ROUNDS, kubectl's own start included)"
echo "  nft -f of the whole table (agent's log)  $(grep -o 'synced in [0-9]* ms' "$DIR/up.log" | tail -1)"

# DNS.
python3 - "$QUERIES" <<'EOF'
import os, socket, struct, sys, time
n = int(sys.argv[1])
def query(i, name):
    q = struct.pack(">HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("10.43.0.10", 53))
s.settimeout(2)
names = ["web.default.svc.cluster.local", "kube-dns.kube-system.svc.cluster.local", "s7.default.svc.cluster.local"]
window, sent, got, lat, start_of = 16, 0, 0, [], {}
t0 = time.perf_counter()
while got < n:
    while sent < n and sent - got < window:
        start_of[sent & 0xffff] = time.perf_counter()
        s.send(query(sent, names[sent % 3])); sent += 1
    try:
        r = s.recv(512)
    except socket.timeout:
        print("  (a query was lost; resending the window)"); sent = got; continue
    i = struct.unpack(">H", r[:2])[0]
    lat.append(time.perf_counter() - start_of.pop(i, time.perf_counter())); got += 1
elapsed = time.perf_counter() - t0
lat.sort()
print(f"DNS ({n} A queries over UDP, 16 in flight, Python client):")
print(f"  {n/elapsed:.0f} queries/s, p50 {lat[len(lat)//2]*1e6:.0f} us, p99 {lat[int(len(lat)*0.99)]*1e6:.0f} us")
EOF
DIG_N=200; [ "${QUICK:-0}" = 1 ] && DIG_N=50
START=$(date +%s%N)
for _ in $(seq "$DIG_N"); do dig +short @10.43.0.10 web.default.svc.cluster.local >/dev/null; done
END=$(date +%s%N)
echo "  dig loop ($DIG_N queries, one process each): $(( DIG_N * 1000000000 / (END - START) )) queries/s (process start dominates)"
