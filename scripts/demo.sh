#!/usr/bin/env bash
# The main job, for now: build tug, make a busybox OCI bundle, and run containers in it
# with `tug runtime`, showing what each is isolated from. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! [ -x /bin/busybox ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static
fi
cargo build --release -p tug
tug=$PWD/target/release/tug
ln -f "$tug" target/release/tug-runtime

work=$(mktemp -d /tmp/tug-demo.XXXXXX)
root=$work/state
trap '"$tug" runtime --root "$root" delete --force demo-bg >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$work/bundle/rootfs/bin/$applet"
done
cd "$work/bundle"
"$tug" runtime spec
# Non-interactive, with a 64 MiB memory limit and a 32-process limit.
jq '.process.terminal = false
    | .hostname = "tug-demo"
    | .linux.resources.memory = {"limit": 67108864}
    | .linux.resources.pids = {"limit": 32}
    | .process.args = ["sh", "-c", "
        echo \"hostname:        $(hostname)\";
        echo \"my pid:          $$\";
        echo \"processes seen:  $(ls /proc | grep -c ^[0-9])\";
        echo \"network devices: $(ls /sys/class/net)\";
        echo \"root filesystem: $(echo $(ls /))\";
        echo \"memory limit:    $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)\";
        touch /x 2>/dev/null && echo \"rootfs writable\" || echo \"rootfs:          read-only\""]' config.json > config.new && mv config.new config.json

echo "== tug runtime run (foreground)"
time "$tug" runtime --root "$root" run demo
echo
echo "== a detached container, seen from the host"
jq '.process.args = ["sleep", "60"]' config.json > config.new && mv config.new config.json
"$tug" runtime --root "$root" run --detach demo-bg >/dev/null
"$tug" runtime --root "$root" list
"$tug" runtime --root "$root" exec demo-bg sh -c 'echo "exec sees pid 1 as: $(cat /proc/1/cmdline | tr "\0" " ")"'
"$tug" runtime --root "$root" pause demo-bg && echo "paused: $("$tug" runtime --root "$root" state demo-bg | jq -r .status)"
"$tug" runtime --root "$root" resume demo-bg
"$tug" runtime --root "$root" events --stats demo-bg | jq -c '{memory: .data.memory.usage.usage, pids: .data.pids.current}'
"$tug" runtime --root "$root" delete --force demo-bg && echo "deleted; nothing left: $(ls "$root")"
