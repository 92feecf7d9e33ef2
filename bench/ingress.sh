#!/usr/bin/env bash
# The ingress controller on a real `tug up` node (needs root, nft, ab, curl; nginx for the
# comparison, apt `nginx`): HTTP requests per second with ab (apache2-utils) to one busybox
# httpd pod
#  1. straight to the pod's IP,
#  2. through tug's ingress (an Ingress routing host web.test to the pod's Service),
#  3. through nginx as a reverse proxy to the same pod (what users would put in front
#     otherwise: ingress-nginx is nginx with generated configuration),
# in interleaved rounds: medians and the ratios to direct.
# Environment: TUG (binary, default target/release/tug), QUICK=1 (fewer requests and
# rounds), ROUNDS, REQUESTS, CONCURRENCY. Takes the machine-wide e2e lock as the tests do.
set -euo pipefail
cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
TUG=$(realpath "$TUG")
if [ "${QUICK:-0}" = 1 ]; then
  ROUNDS=${ROUNDS:-3}; REQUESTS=${REQUESTS:-2000}
else
  ROUNDS=${ROUNDS:-5}; REQUESTS=${REQUESTS:-10000}
fi
CONCURRENCY=${CONCURRENCY:-8}
for tool in nft ab curl python3 kubectl; do
  command -v "$tool" >/dev/null || { echo "bench/ingress.sh needs $tool" >&2; exit 1; }
done
NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || echo "nginx not installed (apt install nginx): its column is skipped" >&2

DIR=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port); HTTP=$(free_port); HTTPS=$(free_port); NGINX_PORT=$(free_port)
export KUBECONFIG=$DIR/kubeconfig.yaml
exec 9>/run/tug-e2e.lock
flock 9
UP_PID=
NGINX_PID=
cleanup() {
  if [ -n "$NGINX_PID" ]; then kill -TERM "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
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
"$TUG" up --bind-address 127.0.0.1 --port "$PORT" --data-dir "$DIR" \
  --ingress-http "127.0.0.1:$HTTP" --ingress-https "127.0.0.1:$HTTPS" 2>"$DIR/up.log" 9>&- &
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
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - host: web.test
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
EOF
until [ "$(curl -s -H 'Host: web.test' "http://127.0.0.1:$HTTP/" 2>/dev/null)" = hello ]; do sleep 0.2; done
POD_IP=$(kubectl get pod web -o jsonpath='{.status.podIP}')

if [ -n "$NGINX" ]; then
  mkdir -p "$DIR/nginx"
  cat >"$DIR/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $DIR/nginx/body; proxy_temp_path $DIR/nginx/proxy;
  fastcgi_temp_path $DIR/nginx/fastcgi; uwsgi_temp_path $DIR/nginx/uwsgi; scgi_temp_path $DIR/nginx/scgi;
  upstream web { server $POD_IP:8080; keepalive 32; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    server_name web.test;
    location / {
      proxy_pass http://web;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header X-Forwarded-Port \$server_port;
    }
  }
}
EOF
  "$NGINX" -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" 9>&- &
  NGINX_PID=$!
  until [ "$(curl -s -H 'Host: web.test' "http://127.0.0.1:$NGINX_PORT/" 2>/dev/null)" = hello ]; do sleep 0.1; done
fi

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
rps() { ab -q -n "$REQUESTS" -c "$CONCURRENCY" -H 'Host: web.test' "$1" 2>/dev/null | awk '/Requests per second/ {print $4}'; }
: >"$DIR/direct"; : >"$DIR/ingress"; : >"$DIR/nginx.rps"
for _ in $(seq "$ROUNDS"); do
  rps "http://$POD_IP:8080/" >>"$DIR/direct"
  rps "http://127.0.0.1:$HTTP/" >>"$DIR/ingress"
  [ -z "$NGINX" ] || rps "http://127.0.0.1:$NGINX_PORT/" >>"$DIR/nginx.rps"
done
DIRECT=$(median <"$DIR/direct"); INGRESS=$(median <"$DIR/ingress")
echo "HTTP (ab -c $CONCURRENCY, $REQUESTS requests x $ROUNDS rounds, median req/s; busybox httpd pod):"
echo "  pod IP directly        $DIRECT"
echo "  through tug's ingress  $INGRESS"
awk -v d="$DIRECT" -v p="$INGRESS" 'BEGIN {printf "  tug ingress / direct   %.3f (overhead %.1f%%)\n", p/d, (1-p/d)*100}'
if [ -n "$NGINX" ]; then
  NGX=$(median <"$DIR/nginx.rps")
  echo "  through nginx          $NGX"
  awk -v d="$DIRECT" -v p="$NGX" 'BEGIN {printf "  nginx / direct         %.3f (overhead %.1f%%)\n", p/d, (1-p/d)*100}'
  awk -v n="$NGX" -v p="$INGRESS" 'BEGIN {printf "  tug ingress / nginx    %.3f\n", p/n}'
fi
