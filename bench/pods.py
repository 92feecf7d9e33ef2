"""Pod startup latency on one node: create through the API to Running, image present.

A `tug up` (store, API server, scheduler, controllers and agent in one process) on a
temporary data dir with busybox loaded gets N_PODS pods (busybox `sleep`, pull policy
Never) created back to back by one client; a watch records when each pod is first
reported Running. Latency per pod = Running seen - create sent. Printed: p50, p99 and
max, and the time until all are Running. No k3s or kubelet can be installed here to
run side by side, so the figures stand against Kubernetes' SLO (p99 <= 5 s, pod
startup excluding image pull) and the issue's goal (p99 < 500 ms).
"""

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from kubernetes import client, config, watch

QUICK = os.environ.get("QUICK") == "1"
N_PODS = int(os.environ.get("PODS", "20" if QUICK else "100"))
TUG = os.environ["TUG"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"[podbench] {msg}", file=sys.stderr, flush=True)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * len(values) + 0.5)) - 1)]


def node_bridges():
    """The node bridges (`tug` + 8 hex digits) present now."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return set(re.findall(r"^\d+: (tug[0-9a-f]{8})[:@]", out, re.M))


def main():
    # Python's descriptors are not inherited: tug up and its pods never hold the lock.
    lock = open("/run/tug-e2e.lock", "w")
    log("waiting for the machine-wide cluster lock")
    fcntl.flock(lock, fcntl.LOCK_EX)
    bridges_before = node_bridges()
    data = tempfile.mkdtemp(prefix="podbench-", dir=os.environ.get("BENCH_TMPDIR"))
    subprocess.run([os.path.join(ROOT, "scripts/busybox-image.sh"), data, TUG], check=True,
                   stdout=subprocess.DEVNULL)
    up_log = open(os.path.join(data, "up.log"), "w")
    up = subprocess.Popen([TUG, "up", "--data-dir", data, "--bind-address", "127.0.0.1",
                           "--port", "16451", "--agent-port", "16452"], stderr=up_log)
    try:
        kubeconfig = os.path.join(data, "kubeconfig.yaml")
        deadline = time.time() + 30
        while not os.path.exists(kubeconfig) or "Ready in" not in open(os.path.join(data, "up.log")).read():
            if time.time() > deadline or up.poll() is not None:
                raise SystemExit("tug up did not become Ready: " + open(os.path.join(data, "up.log")).read())
            time.sleep(0.05)
        config.load_kube_config(kubeconfig)
        v1 = client.CoreV1Api()
        while True:  # the controllers make the default ServiceAccount shortly after start
            try:
                v1.read_namespaced_service_account("default", "default")
                break
            except client.ApiException:
                time.sleep(0.05)
        sent, running = {}, {}
        listed = v1.list_namespaced_pod("default")
        done = threading.Event()

        def watcher():
            w = watch.Watch()
            for event in w.stream(v1.list_namespaced_pod, "default",
                                  resource_version=listed.metadata.resource_version, timeout_seconds=120):
                pod = event["object"]
                if pod.status and pod.status.phase == "Running" and pod.metadata.name not in running:
                    running[pod.metadata.name] = time.monotonic()
                    if len(running) == N_PODS:
                        w.stop()
            done.set()

        thread = threading.Thread(target=watcher, daemon=True)
        thread.start()
        time.sleep(0.2)
        start = time.monotonic()
        for i in range(N_PODS):
            name = f"bench-{i:03d}"
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                   "spec": {"terminationGracePeriodSeconds": 0,
                            "containers": [{"name": "c", "image": "busybox:latest",
                                            "imagePullPolicy": "Never", "command": ["sleep", "3600"]}]}}
            sent[name] = time.monotonic()
            v1.create_namespaced_pod("default", pod)
        created = time.monotonic() - start
        done.wait(180)
        if len(running) < N_PODS:
            raise SystemExit(f"only {len(running)} of {N_PODS} pods became Running")
        latencies = [(running[n] - sent[n]) * 1000 for n in sent]
        total = (max(running.values()) - start) * 1000
        print(f"pods={N_PODS} created_in={created * 1000:.0f}ms all_running_after={total:.0f}ms")
        print(f"startup latency p50={pct(latencies, 50):.0f}ms p99={pct(latencies, 99):.0f}ms max={max(latencies):.0f}ms")
        p99 = pct(latencies, 99)
        print(f"Kubernetes SLO p99 <= 5000 ms: {'met' if p99 <= 5000 else 'missed'} (p99/SLO {p99 / 5000:.2f}); "
              f"goal p99 < 500 ms: {'met' if p99 < 500 else 'missed'}")
        log("deleting the pods")
        v1.delete_collection_namespaced_pod("default", grace_period_seconds=0)
        deadline = time.time() + 120
        while v1.list_namespaced_pod("default").items and time.time() < deadline:
            time.sleep(0.2)
        # The agent removes a force-deleted pod's containers after the object is gone.
        pods_dir = os.path.join(data, "agent", "pods")
        while os.path.isdir(pods_dir) and os.listdir(pods_dir) and time.time() < deadline:
            time.sleep(0.2)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(30)
        for bridge in node_bridges() - bridges_before:
            subprocess.run(["ip", "link", "del", bridge], check=False)
        # The service proxy's table (kube-proxy too leaves its rules when it stops).
        subprocess.run(["nft", "delete", "table", "ip", "tug"], check=False, stderr=subprocess.DEVNULL)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
