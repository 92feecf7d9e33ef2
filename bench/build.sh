#!/usr/bin/env bash
# `tug build` vs `buildah bud` on the same 3-step Containerfile (FROM a busybox base,
# COPY a file, RUN a command), cold (--no-cache) and cached, interleaved in one run
# (tug, buildah, tug, ...). Prints each median and the ratio buildah/tug (above 1: tug
# is faster). Both build in the host network namespace with a real container per RUN
# (tug-runtime; buildah with runc). Needs root, buildah, runc and /bin/busybox.
#
#   TUG=target/release/tug bench/build.sh     N=10 (default 7 rounds), QUICK=1 (3 rounds)
set -euo pipefail

TUG=${TUG:-target/release/tug}
N=${N:-7}
[[ ${QUICK:-0} == 1 ]] && N=3
for tool in buildah runc; do
    command -v "$tool" >/dev/null || { echo "bench/build.sh needs $tool (apt-get install -y $tool)" >&2; exit 2; }
done
[[ -x $TUG ]] || { echo "no tug binary at $TUG (cargo build --release -p tug)" >&2; exit 2; }
TUG=$(realpath "$TUG")

T=$(mktemp -d /tmp/tug-bench-build.XXXXXX)
cleanup() {
    buildah "${B[@]}" rm -a >/dev/null 2>&1 || true
    buildah "${B[@]}" rmi -a -f >/dev/null 2>&1 || true
    # Anything still mounted under the temp dir (buildah's overlay storage).
    findmnt -rn -o TARGET | grep "^$T" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

# buildah in its own storage, with the limits this machine allows (no CAP_SYS_RESOURCE).
cat > "$T/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$T/containers.conf
B=(--root "$T/buildah-root" --runroot "$T/buildah-run" --storage-driver overlay)
export TUG_DATA_DIR=$T/tug-data

mkdir -p "$T/base" "$T/app"
cp /bin/busybox "$T/base/busybox"
cat > "$T/base/Containerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin && mkdir -p /etc /tmp"]
EOF
head -c 1048576 /dev/urandom > "$T/app/data.bin"
cat > "$T/app/Containerfile" <<'EOF'
ARG BASE
FROM $BASE
COPY data.bin /data.bin
RUN echo built > /built && wc -c /data.bin > /size
EOF

echo "setup: base images (busybox FROM scratch) for both tools"
"$TUG" build -q -t bench-base:1 "$T/base" >/dev/null
buildah "${B[@]}" bud -q --isolation oci --network host -t bench-base:1 "$T/base" >/dev/null

tug_build() { "$TUG" build -q "$@" --build-arg BASE=bench-base:1 -t bench-app:1 "$T/app" >/dev/null; }
buildah_build() {
    buildah "${B[@]}" bud -q --isolation oci --network host --layers "$@" \
        --build-arg BASE=localhost/bench-base:1 -t bench-app:1 "$T/app" >/dev/null
}

ms() { date +%s%N; }
declare -A SAMPLES
run() { # name command...
    local name=$1; shift
    local t0 t1
    t0=$(ms); "$@"; t1=$(ms)
    SAMPLES[$name]+="$(( (t1 - t0) / 1000 )) "
}

# Warm-up (uncounted), so the cached rounds have a cache.
tug_build; buildah_build
for ((i = 0; i < N; i++)); do
    run tug_cold tug_build --no-cache
    run buildah_cold buildah_build --no-cache
    run tug_cached tug_build
    run buildah_cached buildah_build
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }
printf '\n%-8s %12s %12s %10s\n' "" "tug (ms)" "buildah (ms)" "buildah/tug"
for kind in cold cached; do
    t=$(echo "${SAMPLES[tug_$kind]}" | median)
    b=$(echo "${SAMPLES[buildah_$kind]}" | median)
    printf '%-8s %12s %12s %10s\n' "$kind" "$t" "$b" "$(awk -v t="$t" -v b="$b" 'BEGIN {printf "%.2fx", b/t}')"
done
echo
echo "medians of $N interleaved rounds; reproduce: TUG=$TUG N=$N bench/build.sh"
