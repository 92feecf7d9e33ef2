#!/usr/bin/env bash
# Benchmark: `tug kustomize build` vs `kubectl kustomize`, interleaved in one
# hyperfine run per tree, on a large tree (200 resources, 5 overlay levels,
# 50 patches, generators) and a small one (one overlay over a few resources).
# Prints each median and the ratio kubectl/tug.
#
# Usage: bench/kustomize.sh            (TUG defaults to target/release/tug)
#        TUG=/path/to/tug KUBECTL=kubectl RUNS=20 bench/kustomize.sh
set -euo pipefail

TUG=${TUG:-target/release/tug}
KUBECTL=${KUBECTL:-kubectl}
RUNS=${RUNS:-20}

for tool in hyperfine jq; do
  command -v "$tool" >/dev/null || { echo "bench/kustomize.sh: $tool is required" >&2; exit 1; }
done
[ -x "$TUG" ] || { echo "bench/kustomize.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

deployment() { # name index
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $1
spec:
  replicas: 1
  selector:
    matchLabels:
      app: $1
  template:
    metadata:
      labels:
        app: $1
    spec:
      containers:
      - name: main
        image: nginx:1.25
        ports:
        - containerPort: 8080
        env:
        - name: INDEX
          value: "$2"
        envFrom:
        - configMapRef:
            name: shared-config
      volumes:
      - name: config
        configMap:
          name: shared-config
---
YAML
}

service() { # name
  cat <<YAML
apiVersion: v1
kind: Service
metadata:
  name: $1
spec:
  selector:
    app: $1
  ports:
  - port: 80
    targetPort: 8080
---
YAML
}

# Large tree: base with 100 Deployments + 100 Services, 5 overlays, 10 patches each.
make_large() {
  local root=$WORK/large
  mkdir -p "$root/base"
  : > "$root/base/resources.yaml"
  for i in $(seq 1 100); do
    deployment "app$i" "$i" >> "$root/base/resources.yaml"
    service "app$i" >> "$root/base/resources.yaml"
  done
  cat > "$root/base/kustomization.yaml" <<YAML
resources:
- resources.yaml
configMapGenerator:
- name: shared-config
  literals:
  - LEVEL=base
commonLabels:
  tier: base
YAML
  local below=base
  for level in 1 2 3 4 5; do
    local dir=$root/level$level
    mkdir -p "$dir"
    {
      echo "resources:"
      echo "- ../$below"
      echo "namePrefix: l$level-"
      echo "commonLabels:"
      echo "  level: \"$level\""
      echo "commonAnnotations:"
      echo "  owner: team-$level"
      echo "configMapGenerator:"
      echo "- name: shared-config"
      echo "  behavior: merge"
      echo "  literals:"
      echo "  - LEVEL=$level"
      echo "images:"
      echo "- name: nginx"
      echo "  newTag: \"1.$level\""
      echo "patches:"
    } > "$dir/kustomization.yaml"
    for p in $(seq 1 10); do
      local target=$(( (level - 1) * 10 + p ))
      cat > "$dir/patch$p.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app$target
spec:
  replicas: $(( p % 4 + 1 ))
  template:
    spec:
      containers:
      - name: main
        env:
        - name: PATCHED_AT
          value: "level$level"
YAML
      echo "- path: patch$p.yaml" >> "$dir/kustomization.yaml"
    done
    below=level$level
  done
  echo "$root/level5"
}

# Small tree: a base of three resources and one overlay.
make_small() {
  local root=$WORK/small
  mkdir -p "$root/base" "$root/overlay"
  { deployment web 1; service web; } > "$root/base/resources.yaml"
  printf 'resources:\n- resources.yaml\nconfigMapGenerator:\n- name: shared-config\n  literals:\n  - A=1\n' > "$root/base/kustomization.yaml"
  cat > "$root/overlay/kustomization.yaml" <<YAML
resources:
- ../base
namePrefix: prod-
commonLabels:
  env: prod
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      replicas: 3
YAML
  echo "$root/overlay"
}

LARGE=$(make_large)
SMALL=$(make_small)

# Same objects from both tools, or the timing means nothing.
for tree in "$LARGE" "$SMALL"; do
  if ! diff <("$TUG" kustomize build "$tree") <("$KUBECTL" kustomize "$tree" 2>/dev/null) >/dev/null; then
    echo "note: outputs differ textually for $tree (compare objects with the differential test)" >&2
  fi
done

printf '%-7s %14s %14s %10s\n' tree tug_median_ms kubectl_median_ms speedup
for name in large small; do
  tree=$LARGE; [ "$name" = small ] && tree=$SMALL
  json=$WORK/$name.json
  hyperfine -N --warmup 3 --runs "$RUNS" --style none --export-json "$json" \
    -n tug "$TUG kustomize build $tree" \
    -n kubectl "$KUBECTL kustomize $tree" >/dev/null 2>&1
  tug_ms=$(jq '.results[] | select(.command=="tug") | .median * 1000' "$json")
  kubectl_ms=$(jq '.results[] | select(.command=="kubectl") | .median * 1000' "$json")
  ratio=$(jq -n "$kubectl_ms / $tug_ms")
  printf '%-7s %14.2f %14.2f %9.1fx\n' "$name" "$tug_ms" "$kubectl_ms" "$ratio"
done
