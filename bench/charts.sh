#!/usr/bin/env bash
# Benchmark: `tug chart template` vs Helm's own engine (helm-python-sdk, Helm v4's Go
# engine in process) on the bitnami nginx and postgresql charts and on a generated chart
# of 50 templates built on bitnami's `common` library; then `tug chart install` vs Helm's
# install of a 30-object chart against one `tug server`. Interleaved run by run; prints
# medians and the ratio helm/tug. tug is timed as a whole CLI process, Helm in process
# (its Python start-up is not counted), so the ratio favours Helm.
#
# Usage: bench/charts.sh              (TUG defaults to target/release/tug)
#        TUG=/path/to/tug RUNS=20 bench/charts.sh;  QUICK=1 for 5 runs
#        PAUSE_MS=100 (default): untimed pause before each timed run; 0 runs back to back
set -euo pipefail

TUG=${TUG:-target/release/tug}
RUNS=${RUNS:-20}
[ "${QUICK:-}" = 1 ] && RUNS=5
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$TUG" ] || { echo "bench/charts.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
python3 -c "import helm_python" 2>/dev/null || { echo "bench/charts.sh: pip install helm-python-sdk" >&2; exit 1; }
TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")
BITNAMI=$HERE/../../shared/conformance/helm-bitnami
[ -d "$BITNAMI" ] || BITNAMI=/work/shared/conformance/helm-bitnami

WORK=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# A chart of 50 templates (Deployments, Services, ConfigMaps) on bitnami's common library.
mkdir -p "$WORK/big/templates" "$WORK/big/charts"
cp -r "$BITNAMI/charts/common" "$WORK/big/charts/common"
cat > "$WORK/big/Chart.yaml" <<YAML
apiVersion: v2
name: big
version: 1.0.0
appVersion: "1.0"
dependencies:
- name: common
  version: 2.x.x
  repository: file://charts/common
YAML
printf 'global:\n  imageRegistry: ""\nimage:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: "1.27"\nreplicas: 2\ncommonLabels:\n  team: bench\n' > "$WORK/big/values.yaml"
for i in $(seq 1 50); do
  case $((i % 3)) in
  0) cat > "$WORK/big/templates/obj$i.yaml" <<YAML
apiVersion: {{ include "common.capabilities.deployment.apiVersion" . }}
kind: Deployment
metadata:
  name: {{ include "common.names.fullname" . }}-$i
  namespace: {{ include "common.names.namespace" . | quote }}
  labels: {{- include "common.labels.standard" (dict "customLabels" .Values.commonLabels "context" .) | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {{- include "common.labels.matchLabels" (dict "customLabels" .Values.commonLabels "context" .) | nindent 6 }}
  template:
    metadata:
      labels: {{- include "common.labels.standard" (dict "customLabels" .Values.commonLabels "context" .) | nindent 8 }}
    spec:
      affinity: {{- include "common.affinities.pods" (dict "type" "soft" "context" .) | nindent 8 }}
      containers:
      - name: c$i
        image: {{ include "common.images.image" (dict "imageRoot" .Values.image "global" .Values.global) }}
YAML
  ;;
  1) cat > "$WORK/big/templates/obj$i.yaml" <<YAML
apiVersion: v1
kind: Service
metadata:
  name: {{ include "common.names.fullname" . }}-$i
  labels: {{- include "common.labels.standard" (dict "customLabels" .Values.commonLabels "context" .) | nindent 4 }}
spec:
  ports:
  - port: {{ add 8000 $i }}
  selector: {{- include "common.labels.matchLabels" (dict "customLabels" .Values.commonLabels "context" .) | nindent 4 }}
YAML
  ;;
  2) cat > "$WORK/big/templates/obj$i.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "common.names.fullname" . }}-$i
data:
  values: |
    {{- toYaml .Values | nindent 4 }}
  list: {{ list 1 2 3 | toJson | quote }}
  upper: {{ printf "%s-%d" .Release.Name $i | upper | quote }}
YAML
  ;;
  esac
done

# A chart of 30 ConfigMaps for the install timing (nothing that needs a node).
mkdir -p "$WORK/thirty/templates"
printf 'apiVersion: v2\nname: thirty\nversion: 1.0.0\n' > "$WORK/thirty/Chart.yaml"
for i in $(seq 1 30); do
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-%s\ndata:\n  i: "%s"\n' "$i" "$i" > "$WORK/thirty/templates/cm$i.yaml"
done

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TUG" server --disable-scheduler --data-dir "$WORK/server" --bind-address 127.0.0.1 --port "$PORT" >/dev/null 2>&1 &
SERVER=$!
for _ in $(seq 100); do
  KUBECONFIG=$WORK/server/kubeconfig.yaml "$TUG" chart list >/dev/null 2>&1 && break
  sleep 0.2
done

python3 "$HERE/charts.py" "$TUG" "$WORK" "$RUNS" "$WORK/server/kubeconfig.yaml"
