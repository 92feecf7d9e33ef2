#!/usr/bin/env bash
# Builds the sample image `busybox:latest` (FROM scratch: Debian's busybox-static with
# its applets linked, /etc/passwd and /etc/group) and loads it into the tug image store
# of DATA_DIR (default /var/lib/tug). No registry needed.
#   usage: scripts/busybox-image.sh [DATA_DIR] [TUG]
set -euo pipefail
data_dir=${1:-/var/lib/tug}
tug=${2:-tug}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "busybox-image: $busybox is missing (apt-get install busybox-static)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,etc,tmp,var/www,root}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
cat > "$work/config.json" <<JSON
{"architecture":"$arch","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},"history":[{"created_by":"scripts/busybox-image.sh"}]}
JSON
echo '[{"Config":"config.json","RepoTags":["busybox:latest"],"Layers":["layer.tar"]}]' > "$work/manifest.json"
tar -C "$work" -cf "$work/image.tar" manifest.json config.json layer.tar
"$tug" image load --data-dir "$data_dir" -i "$work/image.tar"
