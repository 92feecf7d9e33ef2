#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite (../shared/oci-validation.sh, which fetches
# and builds it from Debian's source package) against tug-runtime and fails if fewer test
# files pass than crun passes on this kind of machine (43 of 58).
#
# Usage: tests/oci-validation.sh [path/to/tug-runtime]   (default target/release/tug-runtime)
set -euo pipefail
cd "$(dirname "$0")/.."
runtime=${1:-target/release/tug-runtime}
floor=${OCI_VALIDATION_FLOOR:-43}
script=${OCI_VALIDATION_SCRIPT:-}
for candidate in "$script" ../shared/oci-validation.sh /work/shared/oci-validation.sh; do
  if [ -n "$candidate" ] && [ -f "$candidate" ]; then script=$candidate; break; fi
done
if [ -z "$script" ] || [ ! -f "$script" ]; then
  echo "tests/oci-validation.sh: oci-validation.sh not found (set OCI_VALIDATION_SCRIPT)" >&2
  exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
bash "$script" "$runtime" | tee "$out" || true
passed=$(awk '/^[0-9]+ passed, [0-9]+ failed$/ { print $1 }' "$out" | tail -n1)
echo "tug-runtime: ${passed:-0} validation files passed (floor $floor, crun passes 43 here)"
[ "${passed:-0}" -ge "$floor" ]
