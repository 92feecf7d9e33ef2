#!/usr/bin/env python3
"""Admission's cost: Pod creates per second through `tug server` with every
admission plugin on (and a LimitRange, a ResourceQuota and PodSecurity labels in
the namespace, so each plugin has work to do) against a second `tug server`
with the whole chain turned off (--disable-admission-plugins), same machine,
interleaved rounds. Prints both rates and the ratio.

Reuses bench/apiserver.py's server, connection and client-thread helpers.
Environment: TUG (binary), PODS (per round, default 500), ROUNDS (default 3),
CLIENTS (default 8), QUOTA=0 (no ResourceQuota), BENCH_TMPDIR.
"""

import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver as ab  # noqa: E402

PLUGINS = "NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,PodSecurity,ResourceQuota"
PODS = int(os.environ.get("PODS", "500"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CLIENTS = int(os.environ.get("CLIENTS", "8"))
QUOTA = os.environ.get("QUOTA", "1") != "0"  # QUOTA=0: no ResourceQuota in the namespace


def pod(i, prefix):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{prefix}-{i}"},
            "spec": {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "c", "image": "busybox",
                                     "securityContext": {"allowPrivilegeEscalation": False,
                                                         "capabilities": {"drop": ["ALL"]}}}]}}


def setup(tug):
    c = tug.conn()
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench", "labels": {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"}}}
    ab.check(*c.request("POST", "/api/v1/namespaces", ns), "namespace")
    ab.check(*c.request("POST", "/api/v1/namespaces/bench/serviceaccounts",
                        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
             "service account", ok=(201, 409))
    ab.check(*c.request("POST", "/api/v1/namespaces/bench/limitranges", {
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "10m", "memory": "8Mi"}, "max": {"cpu": "1"}}]}}),
        "limit range")
    if not QUOTA:
        c.close()
        return
    ab.check(*c.request("POST", "/api/v1/namespaces/bench/resourcequotas", {
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
        "spec": {"hard": {"pods": "100000", "requests.cpu": "10000", "limits.memory": "1Ti"}}}), "quota")
    c.close()


def set_quota_status(tug):
    c = tug.conn()
    status = {"status": {"hard": {"pods": "100000", "requests.cpu": "10000", "limits.memory": "1Ti"}, "used": {}}}
    ab.check(*c.request("PATCH", "/api/v1/namespaces/bench/resourcequotas/q/status", json.dumps(status),
                        {"Content-Type": "application/merge-patch+json"}), "quota status")
    c.close()


def main():
    if not os.access(ab.TUG, os.X_OK):
        sys.exit(f"bench/admission.py: no tug binary at {ab.TUG} (cargo build --release -p tug)")
    workdir = tempfile.mkdtemp(prefix="tug-bench-admission-", dir=os.environ.get("BENCH_TMPDIR"))
    try:
        # Neither runs the scheduler or the controllers: only the chain differs. The quota's
        # status is set here as the quota controller would set it.
        on = ab.Tug(os.path.join(workdir, "on"), ab.free_port(), ["--disable-controllers", "--disable-scheduler"])
        off = ab.Tug(os.path.join(workdir, "off"), ab.free_port(),
                     ["--disable-admission-plugins", PLUGINS, "--disable-controllers", "--disable-scheduler"])
        for t in (on, off):
            t.start()
            setup(t)
        if QUOTA:
            set_quota_status(on)

        def create(tug, prefix):
            def op(conn, i):
                ab.check(*conn.request("POST", "/api/v1/namespaces/bench/pods", pod(i, prefix)), "pod create")
            return op

        for r in range(ROUNDS):
            for name, t in (("admission on", on), ("admission off", off)):
                ab.throughput(name, PODS, CLIENTS, t.conn, create(t, f"r{r}"), pid=t.proc.pid)
        ab.finish()
        rate_on = ab.RESULTS["admission on"]["per_s"]
        rate_off = ab.RESULTS["admission off"]["per_s"]
        print(f"pod creates/s, {CLIENTS} clients: admission on {rate_on:.0f}, off {rate_off:.0f}, "
              f"on/off {rate_on / rate_off:.2f} (overhead {100 * (1 - rate_on / rate_off):.1f}%)")
        on_cpu = ab.RESULTS["admission on"].get("server_cpu_us_per_op")
        off_cpu = ab.RESULTS["admission off"].get("server_cpu_us_per_op")
        if on_cpu and off_cpu:
            print(f"server CPU per pod create: on {on_cpu:.0f} µs, off {off_cpu:.0f} µs")
    finally:
        for p in list(ab.CHILDREN):
            ab.stop(p)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
