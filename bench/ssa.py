#!/usr/bin/env python3
"""Server-side apply against the other ways of changing an object, on one `tug server`:

1. Deployment writes per second, one keep-alive client (HTTPS, admin certificate), in
   interleaved rounds: a JSON merge patch of spec.replicas (an Update, managedFields
   tracked), a strategic merge patch of the same field (what `kubectl apply` sends), and a
   server-side apply of the whole configuration with the new replica count
   (`application/apply-patch+yaml`, fieldManager=bench).
2. `kubectl apply` (client-side: GET, three-way patch) against `kubectl apply
   --server-side` (one PATCH) on a manifest of 20 ConfigMaps changed each time, wall time
   per run of the real kubectl.

Uses the helpers of bench/apiserver.py (server start, TLS client); every process is
stopped by PID and the temp dir removed. No peer with etcd is run: the comparison is
between the write paths of the same server.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver as base  # noqa: E402

QUICK = os.environ.get("QUICK") == "1"
WRITES = 300 if QUICK else 1500
ROUNDS = 3 if QUICK else 5
KUBECTL_RUNS = 3 if QUICK else 6
NS = "bench"
PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/web"


def deployment(replicas):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS, "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                 "env": [{"name": f"E{i}", "value": str(i)} for i in range(10)]}]}},
        },
    }


WAYS = {
    "merge patch (Update)": ("application/merge-patch+json", "?fieldManager=bench-update", lambda r: {"spec": {"replicas": r}}),
    "strategic merge patch (Update)": ("application/strategic-merge-patch+json", "?fieldManager=bench-update", lambda r: {"spec": {"replicas": r}}),
    "server-side apply": ("application/apply-patch+yaml", "?fieldManager=bench-update&force=true", deployment),
}


def writes_per_second(conn, way, start):
    content_type, query, body = WAYS[way]
    t0 = time.perf_counter()
    for i in range(WRITES):
        status, data = conn.request("PATCH", PATH + query, body(1 + (start + i) % 50), {"Content-Type": content_type})
        base.check(status, data, way)
    return WRITES / (time.perf_counter() - t0)


def kubectl_runs(kubeconfig, workdir, server_side):
    times = []
    for run in range(KUBECTL_RUNS):
        docs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i}", "namespace": NS},
                 "data": {"run": str(run), "side": "ssa" if server_side else "csa"}} for i in range(20)]
        manifest = os.path.join(workdir, "cms.json")
        with open(manifest, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": docs}, f)
        args = ["kubectl", "--kubeconfig", kubeconfig, "apply", "-f", manifest]
        if server_side:
            args[4:4] = ["--server-side", "--force-conflicts"]
        t0 = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def main():
    workdir = tempfile.mkdtemp(prefix="tug-bench-ssa-")
    tug = base.Tug(os.path.join(workdir, "data"), base.free_port())
    try:
        tug.start()
        conn = tug.conn()
        status, data = conn.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        base.check(status, data, "namespace")
        status, data = conn.request("PATCH", PATH + "?fieldManager=bench-update", deployment(1), {"Content-Type": "application/apply-patch+yaml"})
        base.check(status, data, "create by apply")
        rates = {way: [] for way in WAYS}
        for r in range(ROUNDS):
            for way in WAYS:
                rates[way].append(writes_per_second(conn, way, r * WRITES))
        print(f"Deployment writes/s, 1 client, {WRITES} writes x {ROUNDS} interleaved rounds (median):")
        merge = base.median(rates["merge patch (Update)"])
        for way, rs in rates.items():
            m = base.median(rs)
            print(f"  {way:32s} {m:8.0f}/s  rounds {[round(x) for x in rs]}  ratio to merge patch {m / merge:.2f}")
        kubeconfig = os.path.join(tug.data_dir, "kubeconfig.yaml")
        csa, ssa = [], []
        for _ in range(2):  # interleaved: CSA then SSA, twice
            csa += kubectl_runs(kubeconfig, workdir, False)
            ssa += kubectl_runs(kubeconfig, workdir, True)
        c, s = base.median(csa), base.median(ssa)
        print(f"kubectl apply of 20 ConfigMaps, each changed, median of {len(csa)} runs:")
        print(f"  client-side apply  {c * 1e3:7.0f} ms")
        print(f"  server-side apply  {s * 1e3:7.0f} ms   ratio SSA/CSA {s / c:.2f}")
        conn.close()
    finally:
        tug.stop()
        for proc in list(base.CHILDREN):
            base.stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
