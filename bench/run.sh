#!/usr/bin/env bash
# `tug run --rm IMAGE /bin/true` vs `podman run --rm IMAGE /bin/true` on the same
# busybox image (tug builds it with scripts/busybox-image.sh and exports it with
# `tug image save`; podman loads that archive), with the default bridge network and
# with `--network none`, interleaved in one run (tug, podman, tug, ...). Prints each
# median and the ratio podman/tug (above 1: tug is faster). podman uses runc, its own
# storage under a temp dir and a containers.conf this script writes (this machine
# lacks CAP_SYS_RESOURCE, so default ulimits are lowered; nothing under /etc is
# touched). Needs root, podman, runc and /bin/busybox.
#
#   TUG=target/release/tug bench/run.sh     N=21 (default 15 rounds), QUICK=1 (5 rounds)
set -euo pipefail

TUG=${TUG:-target/release/tug}
N=${N:-15}
[[ ${QUICK:-0} == 1 ]] && N=5
for tool in podman runc; do
    command -v "$tool" >/dev/null || { echo "bench/run.sh needs $tool (apt-get install -y $tool)" >&2; exit 2; }
done
[[ -x $TUG ]] || { echo "no tug binary at $TUG (cargo build --release -p tug)" >&2; exit 2; }
TUG=$(realpath "$TUG")
HERE=$(cd "$(dirname "$0")/.." && pwd)

T=$(mktemp -d /tmp/tug-bench-run.XXXXXX)
P=(--root "$T/podman-root" --runroot "$T/podman-run" --storage-driver overlay --cgroup-manager cgroupfs --events-backend none)
cleanup() {
    podman "${P[@]}" rm -a -f >/dev/null 2>&1 || true
    podman "${P[@]}" rmi -a -f >/dev/null 2>&1 || true
    podman "${P[@]}" system reset -f >/dev/null 2>&1 || true
    findmnt -rn -o TARGET | grep "^$T" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

cat > "$T/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$T/containers.conf
export TUG_DATA_DIR=$T/tug-data

echo "setup: busybox:latest in tug, exported and loaded into podman"
"$HERE/scripts/busybox-image.sh" "$TUG_DATA_DIR" "$TUG" >/dev/null
"$TUG" image save -o "$T/busybox.tar" busybox:latest
podman "${P[@]}" load -q -i "$T/busybox.tar" >/dev/null

ms() { date +%s%N; }
declare -A SAMPLES
run() { # name command...
    local name=$1; shift
    local t0 t1
    t0=$(ms); "$@" >/dev/null; t1=$(ms)
    SAMPLES[$name]+="$(( (t1 - t0) / 1000 )) "
}
tug_run() { "$TUG" run --rm "$@" busybox:latest /bin/true; }
podman_run() { podman "${P[@]}" run --rm --pull never "$@" localhost/busybox:latest /bin/true; }

# Warm-up (uncounted): unpacked layers, the bridges.
tug_run; tug_run --network none; podman_run; podman_run --network none
for ((i = 0; i < N; i++)); do
    run tug_bridge tug_run
    run podman_bridge podman_run
    run tug_none tug_run --network none
    run podman_none podman_run --network none
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }
printf '\n%-16s %10s %12s %11s\n' "" "tug (ms)" "podman (ms)" "podman/tug"
for kind in bridge none; do
    t=$(echo "${SAMPLES[tug_$kind]}" | median)
    p=$(echo "${SAMPLES[podman_$kind]}" | median)
    label=$([[ $kind == bridge ]] && echo "bridge network" || echo "--network none")
    printf '%-16s %10s %12s %11s\n' "$label" "$t" "$p" "$(awk -v t="$t" -v p="$p" 'BEGIN {printf "%.2fx", p/t}')"
done
echo
echo "medians of $N interleaved rounds; reproduce: TUG=$TUG N=$N bench/run.sh"
