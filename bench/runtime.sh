#!/usr/bin/env bash
# Benchmark: the whole OCI container lifecycle (create, start, wait for exit,
# delete) of /bin/true in one busybox bundle, with tug-runtime, runc and crun,
# interleaved round-robin in one run (tug, runc, crun, tug, runc, crun, ...).
# Prints per-runtime median and p90 of the whole lifecycle, per-phase medians
# (create, start, wait, delete), and the ratios tug/runc and tug/crun.
#
# Every runtime gets the same config.json (from `tug runtime spec`, with
# process.terminal=false and args ["/bin/true"], no cgroupsPath so each uses its
# own default), its own --root, and the same wait: the driver (a python3
# process that is a child subreaper) reads the --pid-file after `create`, opens
# a pidfd before `start`, polls it after `start` until the init exits, reaps
# it, then runs `delete`. Timing is time.perf_counter around the lifecycle.
#
# Before each lifecycle the driver sleeps PAUSE_MS (default 100, not timed).
# Without it the runtimes are not independent: moving a process into a cgroup
# v1 hierarchy waits for an RCU grace period (cgroup_threadgroup_rwsem) unless
# another attach happened within about one grace period, so back to back a
# runtime's `create` is cheap or dear depending on how long the previous
# runtime's start+wait+delete took, and the round-robin order decides the
# winner. With the pause every `create` starts cold, as a sporadic container
# start does. PAUSE_MS=0 measures the back-to-back case.
#
# The driver runs in a private mount namespace. On a hybrid cgroup machine (v1
# controllers plus a cgroup2 at /sys/fs/cgroup/unified) that cgroup2 mount is
# replaced there by an empty tmpfs, because crun 1.8 can refuse hybrid mode
# ("cgroups in hybrid mode not supported"); all three runtimes then see the
# same cgroup v1 view. On a pure v2 or pure v1 machine nothing is changed.
#
# Usage: bench/runtime.sh                   (run as root; TUG defaults to target/release/tug)
#        QUICK=1 bench/runtime.sh           (20 iterations instead of 100)
#        TUG=/path/to/tug N=200 WARMUP=5 PAUSE_MS=0 RUNC=runc CRUN=crun bench/runtime.sh
#        RESULTS_JSON=out.json bench/runtime.sh   (also write every sample)
# Exits non-zero if any lifecycle of any runtime fails (its stderr is printed).
set -euo pipefail

TUG=${TUG:-target/release/tug}
RUNC=${RUNC:-runc}
CRUN=${CRUN:-crun}
BUSYBOX=${BUSYBOX:-/bin/busybox}
PYTHON=${PYTHON:-python3}
if [ "${QUICK:-0}" = 1 ]; then N=${N:-20}; else N=${N:-100}; fi
WARMUP=${WARMUP:-3}
PAUSE_MS=${PAUSE_MS:-100}

die() { echo "bench/runtime.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (containers with namespaces and cgroups)"
for tool in unshare mountpoint "$PYTHON" "$RUNC" "$CRUN"; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[ -x "$BUSYBOX" ] || die "no static busybox at $BUSYBOX (apt-get install busybox-static)"
[ -x "$TUG" ] || die "no tug binary at $TUG (build with cargo build --release -p tug)"
case "$N$WARMUP$PAUSE_MS" in *[!0-9]*) die "N, WARMUP and PAUSE_MS must be numbers";; esac
[ "$N" -ge 2 ] || die "N must be at least 2"
TUG=$(cd "$(dirname "$TUG")" && pwd)/$(basename "$TUG")
RUNC=$(command -v "$RUNC")
CRUN=$(command -v "$CRUN")

WORK=
LINKDIR=
DRIVER=
# Run a command in a private mount namespace with the hybrid cgroup2 mount hidden.
# A throwaway tmpfs goes where it was: crun still writes <id>/cgroup.procs under
# /sys/fs/cgroup/unified for the kernel's "0::" line, and without the tmpfs those
# files would land in the host's /sys/fs/cgroup tmpfs, hidden under the cgroup2 mount.
HIDE_UNIFIED='
  if [ -d /sys/fs/cgroup/unified ] && mountpoint -q /sys/fs/cgroup/unified; then
    umount /sys/fs/cgroup/unified &&
      mount -t tmpfs -o mode=755 tugbench /sys/fs/cgroup/unified ||
      { echo "cannot hide /sys/fs/cgroup/unified" >&2; exit 1; }
  fi
  exec "$@"'
in_ns() { unshare -m --propagation private sh -c "$HIDE_UNIFIED" sh "$@"; }
cleanup() {
  set +e
  if [ -n "$DRIVER" ] && kill -0 "$DRIVER" 2>/dev/null; then
    kill "$DRIVER"
    wait "$DRIVER" 2>/dev/null
    sleep 0.2 # let a runtime command it had started finish before sweeping
  fi
  if [ -n "$WORK" ] && [ -d "$WORK/root" ]; then
    local rt bin dir
    for rt in tug runc crun; do
      case $rt in tug) bin=$LINKDIR/tug-runtime;; runc) bin=$RUNC;; crun) bin=$CRUN;; esac
      for dir in "$WORK/root/$rt"/*/; do
        [ -d "$dir" ] || continue
        in_ns "$bin" --root "$WORK/root/$rt" delete --force "$(basename "$dir")" >/dev/null 2>&1
      done
    done
  fi
  [ -n "$WORK" ] && rm -rf "$WORK"
  [ -n "$LINKDIR" ] && rm -rf "$LINKDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tug-bench-runtime.XXXXXX")
# The hard link must live on the binary's filesystem: a temp dir beside it.
LINKDIR=$(mktemp -d "$(dirname "$TUG")/.bench-runtime.XXXXXX")
ln "$TUG" "$LINKDIR/tug-runtime" || die "cannot hard-link $TUG to $LINKDIR/tug-runtime"
TUG_RUNTIME=$LINKDIR/tug-runtime

# The bundle: a busybox rootfs with a `true` applet link, and tug's default spec.
BUNDLE=$WORK/bundle
mkdir -p "$BUNDLE/rootfs/bin" "$BUNDLE/rootfs/proc" "$BUNDLE/rootfs/dev" "$BUNDLE/rootfs/sys" "$BUNDLE/rootfs/tmp"
cp "$BUSYBOX" "$BUNDLE/rootfs/bin/busybox"
ln -s busybox "$BUNDLE/rootfs/bin/true"
"$TUG" runtime spec --bundle "$BUNDLE"
"$PYTHON" - "$BUNDLE/config.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    spec = json.load(f)
# crun 1.8 refuses ociVersion 1.2.0 ("unknown version specified"); every runtime
# here implements 1.0.x, so the shared config says 1.0.2.
spec["ociVersion"] = "1.0.2"
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/true"]
spec.get("linux", {}).pop("cgroupsPath", None)
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY
mkdir -p "$WORK/root/tug" "$WORK/root/runc" "$WORK/root/crun"

cat > "$WORK/driver.py" <<'PY'
"""Interleaved lifecycle benchmark driver: argv = work bundle n warmup pause_ms name=binary..."""
import ctypes, json, os, select, statistics, subprocess, sys, time

work, bundle, n, warmup, pause_ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
runtimes = [tuple(a.split("=", 1)) for a in sys.argv[6:]]
PHASES = ("create", "start", "wait", "delete")
WAIT_TIMEOUT_S = 10

PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")


def reap():
    """Reaps every exited child (container inits and runtime helpers are reparented to us)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Failure(Exception):
    pass


errfiles = {name: open(os.path.join(work, f"{name}.stderr"), "w+b") for name, _ in runtimes}


def call(name, binary, root, *args):
    err = errfiles[name]
    err.seek(0)
    err.truncate()
    # stdout/stderr must not be pipes: the container init inherits them from `create`.
    r = subprocess.run([binary, "--root", root, *args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=err)
    if r.returncode != 0:
        err.seek(0)
        text = err.read().decode(errors="replace").strip()
        raise Failure(f"{name} {args[0]} exited {r.returncode}:\n{text or '(no stderr)'}")


def lifecycle(name, binary, cid):
    root = os.path.join(work, "root", name)
    pidfile = os.path.join(work, f"{name}.pid")
    t0 = time.perf_counter()
    call(name, binary, root, "create", "--bundle", bundle, "--pid-file", pidfile, cid)
    with open(pidfile) as f:
        pid = int(f.read().strip())
    pidfd = os.pidfd_open(pid)
    t1 = time.perf_counter()
    try:
        call(name, binary, root, "start", cid)
        t2 = time.perf_counter()
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(WAIT_TIMEOUT_S * 1000):
            raise Failure(f"{name}: container {cid} (pid {pid}) did not exit within {WAIT_TIMEOUT_S} s")
        try:
            status = os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
        except ChildProcessError:
            status = None  # not our child (cannot happen while we are the subreaper)
        reap()
        t3 = time.perf_counter()
    finally:
        os.close(pidfd)
    if status is not None and (status.si_code != os.CLD_EXITED or status.si_status != 0):
        raise Failure(f"{name}: /bin/true in container {cid} ended with code {status.si_code} status {status.si_status}")
    call(name, binary, root, "delete", cid)
    t4 = time.perf_counter()
    os.unlink(pidfile)
    return {"total": t4 - t0, "create": t1 - t0, "start": t2 - t1, "wait": t3 - t2, "delete": t4 - t3}


samples = {name: [] for name, _ in runtimes}
for i in range(warmup + n):
    for name, binary in runtimes:
        cid = f"bench-{os.getpid()}-{i}-{name}"
        time.sleep(pause_ms / 1000)
        try:
            s = lifecycle(name, binary, cid)
        except (Failure, OSError) as e:
            print(f"FAILED (iteration {i}, {'warm-up' if i < warmup else 'measured'}): {e}", file=sys.stderr)
            reap()
            subprocess.run([binary, "--root", os.path.join(work, "root", name), "delete", "--force", cid],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            reap()
            sys.exit(1)
        if i >= warmup:
            samples[name].append(s)


def p90(xs):
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


ms = lambda x: x * 1000
summary = {}
for name, _ in runtimes:
    totals = [s["total"] for s in samples[name]]
    summary[name] = {"median": statistics.median(totals), "p90": p90(totals),
                     **{p: statistics.median([s[p] for s in samples[name]]) for p in PHASES}}

print(f"\n{'runtime':<8} {'median_ms':>10} {'p90_ms':>9} | per-phase medians (ms): "
      f"{'create':>7} {'start':>7} {'wait':>7} {'delete':>7}")
for name, _ in runtimes:
    s = summary[name]
    print(f"{name:<8} {ms(s['median']):>10.2f} {ms(s['p90']):>9.2f} | {'':23}"
          + " ".join(f"{ms(s[p]):>7.2f}" for p in PHASES))
print()
tug = summary["tug"]
for other in ("runc", "crun"):
    o = summary[other]
    print(f"tug/{other}: {tug['median'] / o['median']:.2f} (median), {tug['p90'] / o['p90']:.2f} (p90)")
print(f"tug faster than crun: {'yes' if tug['median'] < summary['crun']['median'] else 'no'} (median)")
if os.environ.get("RESULTS_JSON"):
    with open(os.environ["RESULTS_JSON"], "w") as f:
        json.dump({"n": n, "summary_seconds": summary, "samples_seconds": samples}, f, indent=1)
PY

if [ -d /sys/fs/cgroup/unified ] && mountpoint -q /sys/fs/cgroup/unified; then
  CGROUPS="hybrid on the host; cgroup v1 only in the benchmark's mount namespace (/sys/fs/cgroup/unified hidden there)"
elif [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  CGROUPS="cgroup v2"
else
  CGROUPS="cgroup v1"
fi
echo "container lifecycle of /bin/true (create, start, wait, delete), interleaved tug, runc, crun"
echo "iterations: $N per runtime (+ $WARMUP warm-up rounds not counted), ${PAUSE_MS} ms pause before each; $(nproc) cpus; kernel $(uname -r)"
echo "cgroups: $CGROUPS"
echo "tug-runtime: $TUG_RUNTIME (hard link to $TUG)"
echo "runc: $RUNC ($("$RUNC" --version | head -1)); crun: $CRUN ($("$CRUN" --version | head -1))"

# In the background so that a signal to this script runs the cleanup at once.
# unshare, sh and python3 replace each other (exec), so $DRIVER is the driver's pid.
unshare -m --propagation private sh -c "$HIDE_UNIFIED" sh \
  "$PYTHON" "$WORK/driver.py" "$WORK" "$BUNDLE" "$N" "$WARMUP" "$PAUSE_MS" \
  "tug=$TUG_RUNTIME" "runc=$RUNC" "crun=$CRUN" &
DRIVER=$!
rc=0
wait "$DRIVER" || rc=$?
DRIVER=
[ "$rc" = 0 ] || die "a container lifecycle failed (exit $rc; the runtime's stderr is above)"

echo
echo "reproduce: cd $(pwd) && TUG=$TUG N=$N WARMUP=$WARMUP PAUSE_MS=$PAUSE_MS bench/runtime.sh"
