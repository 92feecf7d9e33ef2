#!/usr/bin/env bash
# Benchmark: what authorization costs on the request path of `tug server`, in one run:
#   requests/s and server CPU per request for a system:masters admin beside an
#   RBAC-authorized user while 1,000 Roles and 1,000 RoleBindings exist (each naming
#   the user's group, so its decision walks all of them), and the mean RBAC decision
#   time in µs from the server's own counters. Prints the user/admin ratio.
# The peer here is the admin path of the same server (issue 5: "authentication +
# RBAC on vs an admin request path, same run"); no kube-apiserver is installed to
# run beside it.
#
# Usage: bench/apiserver-auth.sh            full run (3 rounds of 10,000 GETs each; ~1 minute)
#        QUICK=1 bench/apiserver-auth.sh    quick run
#        TUG=/path/to/tug CLIENTS=8 OBJECTS=1000 REQUESTS=10000
#        SHARED_GROUP=0   the 1,000 bindings name other users only (the user holds one)
# Needs python3 (standard library only).
set -euo pipefail

cd "$(dirname "$0")/.."
TUG=${TUG:-target/release/tug}
command -v python3 >/dev/null || { echo "bench/apiserver-auth.sh: python3 is required" >&2; exit 1; }
[ -x "$TUG" ] || { echo "bench/apiserver-auth.sh: no tug binary at $TUG (build with cargo build --release -p tug)" >&2; exit 1; }
export TUG
exec python3 bench/apiserver-auth.py
