"""Workload controllers: how fast Deployments become available.

1. Controller throughput with simulated nodes: a `tug server` (scheduler and
   controllers on) gets N_NODES Node objects with no agent behind them; a tiny
   simulated kubelet in this script watches the pods and marks each bound pod
   Running and Ready. N_DEPLOY Deployments of REPLICAS replicas are created by 8
   clients; printed: pods created per second (ReplicaSet controller, from the
   first Deployment POST to the last pod ADDED), time until every Deployment
   reports all replicas available.
2. One real node (`tug up`, busybox containers; needs root): a Deployment of
   BIG replicas, time from the POST to the last pod Ready and status.available
   == BIG; then a rolling update (new env value), time from the PATCH to the
   rollout complete. Skipped (and said so) without root.

No kube-controller-manager or k3s is installable on this machine, so nothing
runs side by side; the figures are printed alone.
"""

import fcntl
import json
import os
import queue
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
N_DEPLOY = int(os.environ.get("DEPLOYMENTS", "100" if QUICK else "1000"))
REPLICAS = int(os.environ.get("REPLICAS", "10"))
BIG = int(os.environ.get("BIG", "20" if QUICK else "100"))
CLIENTS = 8
E2E_LOCK = "/run/tug-e2e.lock"


def log(msg):
    print(f"[workloadbench] {msg}", file=sys.stderr, flush=True)


def deployment(name, replicas, version="1"):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"terminationGracePeriodSeconds": 1,
                                           "containers": [{"name": "c", "image": "busybox:latest",
                                                           "imagePullPolicy": "Never", "command": ["sleep", "3600"],
                                                           "env": [{"name": "VERSION", "value": version}],
                                                           "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}}


def create_nodes(tug):
    c = tug.conn()
    for i in range(N_NODES):
        name = f"sim-{i:03d}"
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}
        common.check(*c.request("POST", "/api/v1/nodes", node), f"create node {name}")
        status = {"status": {
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "250"},
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "250"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}
        common.check(*c.request("PATCH", f"/api/v1/nodes/{name}/status", status,
                                {"Content-Type": "application/merge-patch+json"}), f"status of {name}")
    c.close()


def watch_lines(tug, path):
    """Yields the objects of a watch, one per event, as (type, object)."""
    c = tug.conn()
    c._connect()
    c.c.request("GET", path, headers={"Accept": "application/json"})
    r = c.c.getresponse()
    buf = b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            return
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.strip():
                ev = json.loads(line)
                yield ev["type"], ev["object"]


def simulated_kubelet(tug, rv, stats, total, done):
    """Marks bound pods Running/Ready (4 patching threads); records when pods appear."""
    work = queue.Queue()

    def patcher():
        c = tug.conn()
        while True:
            name = work.get()
            if name is None:
                return
            status = {"status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]}}
            common.check(*c.request("PATCH", f"/api/v1/namespaces/default/pods/{name}/status", status,
                                    {"Content-Type": "application/merge-patch+json"}), f"ready {name}")

    threads = [threading.Thread(target=patcher, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    seen, marked = set(), set()
    for kind, pod in watch_lines(tug, f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}"):
        name = pod["metadata"]["name"]
        if kind == "ADDED" and name not in seen:
            seen.add(name)
            stats["created"].append(time.perf_counter())
        if pod["spec"].get("nodeName") and name not in marked:
            marked.add(name)
            work.put(name)
        if done.is_set():
            break
    for _ in threads:
        work.put(None)


def all_available(tug, replicas):
    c = tug.conn()
    status, body = c.request("GET", "/apis/apps/v1/namespaces/default/deployments")
    c.close()
    common.check(status, body, "list deployments")
    items = json.loads(body)["items"]
    ok = sum(1 for d in items if d.get("status", {}).get("availableReplicas") == replicas)
    return ok, len(items)


def controller_throughput(workdir):
    tug = common.Tug(os.path.join(workdir, "server"), common.free_port())
    tug.start()
    total = N_DEPLOY * REPLICAS
    log(f"{N_NODES} simulated nodes, {N_DEPLOY} deployments x {REPLICAS} replicas = {total} pods")
    create_nodes(tug)
    c = tug.conn()
    status, body = c.request("GET", "/api/v1/namespaces/default/pods?limit=1")
    common.check(status, body, "list pods")
    rv = json.loads(body)["metadata"]["resourceVersion"]
    c.close()
    stats, done = {"created": []}, threading.Event()
    kubelet = threading.Thread(target=simulated_kubelet, args=(tug, rv, stats, total, done), daemon=True)
    kubelet.start()
    time.sleep(0.3)
    t0 = time.perf_counter()

    def op(conn, i):
        common.check(*conn.request("POST", "/apis/apps/v1/namespaces/default/deployments",
                                   deployment(f"d{i:04d}", REPLICAS)), f"create deployment {i}")

    posted, _ = common.run_clients(N_DEPLOY, CLIENTS, tug.conn, op)
    deadline = time.time() + 1200
    while len(stats["created"]) < total:
        if time.time() > deadline:
            raise RuntimeError(f"only {len(stats['created'])} of {total} pods were created")
        time.sleep(0.1)
    created_at = stats["created"][-1] - t0
    while True:
        ok, n = all_available(tug, REPLICAS)
        if ok == N_DEPLOY:
            break
        if time.time() > deadline:
            raise RuntimeError(f"only {ok} of {n} deployments became available")
        time.sleep(0.5)
    available_at = time.perf_counter() - t0
    done.set()
    rss = common.rss_kib(tug.proc.pid)[0]
    tug.stop()
    print(f"controller throughput, {N_NODES} simulated nodes, {N_DEPLOY} deployments x {REPLICAS} replicas (QUICK={int(QUICK)})")
    print(f"  deployments posted in:            {posted:8.2f} s")
    print(f"  all {total} pods created after:  {created_at:8.2f} s")
    print(f"  pods created per second:          {total / created_at:8.0f}")
    print(f"  all deployments available after:  {available_at:8.2f} s")
    print(f"  tug server RSS at the end:        {rss/1024:8.1f} MiB")


def kubectl(kubeconfig, *args, check=True):
    out = subprocess.run(["kubectl", *args], env={**os.environ, "KUBECONFIG": kubeconfig},
                         capture_output=True, text=True)
    if check and out.returncode != 0:
        raise RuntimeError(f"kubectl {args}: {out.stdout}{out.stderr}")
    return out.stdout


def wait_rollout(kubeconfig, name, replicas, generation_at_least):
    while True:
        d = json.loads(kubectl(kubeconfig, "get", "deployment", name, "-o", "json"))
        s = d.get("status", {})
        if (s.get("observedGeneration", 0) >= generation_at_least and s.get("updatedReplicas") == replicas
                and s.get("replicas") == replicas and s.get("availableReplicas") == replicas):
            return
        time.sleep(0.2)


def one_node(workdir):
    if os.environ.get("REAL_NODE") == "0":
        print("one real node: skipped (REAL_NODE=0)")
        return
    if os.geteuid() != 0 or not os.path.exists("/bin/busybox"):
        print("one real node: skipped (needs root and /bin/busybox)")
        return
    lock = open(E2E_LOCK, "w")
    log("waiting for the machine-wide e2e lock")
    fcntl.flock(lock, fcntl.LOCK_EX)
    data = os.path.join(workdir, "node")
    os.makedirs(data)
    subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "busybox-image.sh"),
                    data, common.TUG], check=True, capture_output=True)
    port = common.free_port()
    errlog = open(os.path.join(workdir, "up.log"), "ab")
    up = subprocess.Popen([common.TUG, "up", "--bind-address", "127.0.0.1", "--port", str(port), "--data-dir", data],
                          stdout=subprocess.DEVNULL, stderr=errlog, stdin=subprocess.DEVNULL)
    common.CHILDREN.append(up)
    kubeconfig = os.path.join(data, "kubeconfig.yaml")
    try:
        deadline = time.time() + 60
        while "True" not in kubectl(kubeconfig, "get", "nodes", "-o", "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}", check=False):
            if time.time() > deadline:
                raise RuntimeError("the node did not become Ready")
            time.sleep(0.2)
        manifest = os.path.join(workdir, "big.json")
        with open(manifest, "w") as f:
            json.dump(deployment("big", BIG), f)
        t0 = time.perf_counter()
        kubectl(kubeconfig, "create", "-f", manifest)
        wait_rollout(kubeconfig, "big", BIG, 1)
        available = time.perf_counter() - t0
        t0 = time.perf_counter()
        kubectl(kubeconfig, "set", "env", "deployment/big", "VERSION=2")
        wait_rollout(kubeconfig, "big", BIG, 2)
        rolled = time.perf_counter() - t0
        kubectl(kubeconfig, "delete", "deployment", "big", "--timeout=300s")
        deadline = time.time() + 300
        while kubectl(kubeconfig, "get", "pods", "-o", "name").strip() and time.time() < deadline:
            time.sleep(0.5)
        print(f"one real node, a Deployment of {BIG} busybox replicas (QUICK={int(QUICK)})")
        print(f"  create to all {BIG} available:     {available:8.2f} s")
        print(f"  rolling update (25%/25%) to done: {rolled:8.2f} s")
    finally:
        common.stop(up, timeout=30)
        for line in subprocess.run(["pgrep", "-f", data], capture_output=True, text=True).stdout.split():
            try:
                os.kill(int(line), 9)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["sh", "-c", f"grep -o ' {data}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l"])
        fcntl.flock(lock, fcntl.LOCK_UN)


def main():
    workdir = tempfile.mkdtemp(prefix="tug-workloadbench-", dir=os.environ.get("BENCH_TMPDIR"))
    try:
        controller_throughput(workdir)
        one_node(workdir)
        print(f"  reproduce: QUICK={int(QUICK)} bench/workloads.sh")
    finally:
        for p in list(common.CHILDREN):
            common.stop(p, timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
