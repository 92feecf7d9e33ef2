"""Scheduler throughput: pods bound per second by `tug scheduler`.

A `tug server --disable-scheduler` gets N_NODES Node objects with no agent
behind them (64 CPUs, 256 GiB, 110 pods each, Ready) and N_PODS pending pods
(100m CPU, 128 MiB each); then `tug scheduler` starts, and a watch on the pods
times every binding. Printed: time to the first binding, pods bound per second
over the whole backlog, and the ratio to kube-scheduler's published range of
100-900 pods/s for this kind of workload (no kube-scheduler binary is
installable here to run side by side).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver as common  # noqa: E402  (the shared server and HTTP helpers)

QUICK = os.environ.get("QUICK") == "1"
N_NODES = int(os.environ.get("NODES", "20" if QUICK else "100"))
N_PODS = int(os.environ.get("PODS", "1000" if QUICK else "10000"))
CLIENTS = 8
KUBE_SCHEDULER_RANGE = (100, 900)


def log(msg):
    print(f"[schedbench] {msg}", file=sys.stderr, flush=True)


def create_nodes(tug):
    c = tug.conn()
    for i in range(N_NODES):
        name = f"node-{i:03d}"
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}
        common.check(*c.request("POST", "/api/v1/nodes", node), f"create node {name}")
        status = {"status": {
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "110"},
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}
        common.check(*c.request("PATCH", f"/api/v1/nodes/{name}/status", status,
                                {"Content-Type": "application/merge-patch+json"}), f"status of {name}")
    c.close()


def create_pods(tug):
    def op(c, i):
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"pod-{i:05d}", "namespace": "default", "labels": {"app": "bench"}},
               "spec": {"containers": [{"name": "c", "image": "busybox",
                                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}
        common.check(*c.request("POST", "/api/v1/namespaces/default/pods", pod), f"create pod {i}")
    common.run_clients(N_PODS, CLIENTS, tug.conn, op)


def watch_bindings(tug, rv, done, times):
    """Records the arrival time of each pod's first bound state, until all are bound."""
    c = tug.conn()
    c._connect()
    c.c.request("GET", f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}",
                headers={"Accept": "application/json"})
    r = c.c.getresponse()
    bound = set()
    buf = b""
    while len(bound) < N_PODS:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            obj = json.loads(line)["object"]
            name = obj["metadata"]["name"]
            if obj.get("spec", {}).get("nodeName") and name not in bound:
                bound.add(name)
                times.append(time.perf_counter())
    c.close()
    done.set()


def main():
    workdir = tempfile.mkdtemp(prefix="tug-schedbench-", dir=os.environ.get("BENCH_TMPDIR"))
    try:
        data = os.path.join(workdir, "server")
        tug = common.Tug(data, common.free_port(), ["--disable-scheduler"])
        tug.start()
        log(f"{N_NODES} nodes, {N_PODS} pending pods")
        create_nodes(tug)
        create_pods(tug)
        c = tug.conn()
        status, body = c.request("GET", "/api/v1/namespaces/default/pods?limit=1")
        common.check(status, body, "list pods")
        rv = json.loads(body)["metadata"]["resourceVersion"]
        c.close()
        done, times = threading.Event(), []
        watcher = threading.Thread(target=watch_bindings, args=(tug, rv, done, times), daemon=True)
        watcher.start()
        time.sleep(0.2)
        log("starting tug scheduler")
        t0 = time.perf_counter()
        sched = subprocess.Popen([common.TUG, "scheduler", "--kubeconfig", os.path.join(data, "kubeconfig.yaml")],
                                 stdin=subprocess.DEVNULL)
        common.CHILDREN.append(sched)
        if not done.wait(timeout=600):
            raise RuntimeError(f"only {len(times)} of {N_PODS} pods were bound within 600 s")
        first, last = times[0] - t0, times[-1] - t0
        rate = N_PODS / (times[-1] - times[0]) if len(times) > 1 else float("nan")
        overall = N_PODS / last
        sched_rss = common.rss_kib(sched.pid)[0]
        common.stop(sched)
        tug.stop()
        lo, hi = KUBE_SCHEDULER_RANGE
        print(f"scheduler throughput, {N_NODES} nodes, {N_PODS} pending pods (QUICK={int(QUICK)})")
        print(f"  first binding after start:       {first*1000:8.0f} ms")
        print(f"  all bound after start:           {last:8.2f} s")
        print(f"  pods bound per second (steady):  {rate:8.0f}")
        print(f"  pods bound per second (overall): {overall:8.0f}")
        print(f"  scheduler RSS at the end:        {sched_rss/1024:8.1f} MiB")
        print(f"  ratio to kube-scheduler's {lo}-{hi} pods/s: {overall/hi:.1f}x to {overall/lo:.1f}x")
        print(f"  reproduce: QUICK={int(QUICK)} bench/scheduler.sh")
    finally:
        for p in list(common.CHILDREN):
            common.stop(p, timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
