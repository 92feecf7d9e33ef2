#!/usr/bin/env python3
"""Custom resources against a built-in kind on one `tug server`, in one run: creates/s,
LIST time and watch delivery for a CustomResourceDefinition's kind (a Widget with a
structural schema: pruning, defaulting and validation on every write) and for
ConfigMaps, in interleaved rounds. The built-in kind is the peer: the goal is custom
resources within 20% of it.

Per round and kind: N creates from CLIENTS keep-alive clients (HTTPS, admin
certificate) into a fresh namespace, LISTs of those N objects, and a watch opened
before another N creates, timed until its last event arrives. Uses the helpers of
bench/apiserver.py (server start, TLS client); every process is stopped by PID and the
temp dir removed.
"""

import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver as base  # noqa: E402

QUICK = os.environ.get("QUICK") == "1"
N = 300 if QUICK else 2000
ROUNDS = 2 if QUICK else 3
LISTS = 5 if QUICK else 10
CLIENTS = int(os.environ.get("CLIENTS", "4"))

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.bench.example.com"},
    "spec": {"group": "bench.example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {
                                   "size": {"type": "integer", "minimum": 0, "default": 1},
                                   "color": {"type": "string", "enum": ["red", "blue"]},
                                   "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                               "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]}}

KINDS = {
    "ConfigMap": (lambda ns: f"/api/v1/namespaces/{ns}/configmaps",
                  lambda name: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                                "data": {"size": "3", "color": "red", "a": "1", "b": "2"}}),
    "Widget": (lambda ns: f"/apis/bench.example.com/v1/namespaces/{ns}/widgets",
               lambda name: {"apiVersion": "bench.example.com/v1", "kind": "Widget", "metadata": {"name": name},
                             "spec": {"size": 3, "color": "red", "labels": {"a": "1", "b": "2"}}}),
}


def namespace(conn, name):
    status, data = conn.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    base.check(status, data, f"namespace {name}")


def creates(tug, path, make, prefix):
    def op(conn, i):
        status, data = conn.request("POST", path, make(f"{prefix}-{i}"))
        base.check(status, data, "create")
    wall, _ = base.run_clients(N, CLIENTS, tug.conn, op)
    return N / wall


def list_seconds(conn, path):
    times = []
    for _ in range(LISTS):
        t0 = time.perf_counter()
        status, data = conn.request("GET", path)
        base.check(status, data, "list")
        times.append(time.perf_counter() - t0)
        # Namespaces also hold what controllers add (the cluster CA ConfigMap): count ours.
        ours = [o for o in json.loads(data)["items"] if o["metadata"]["name"].startswith("o-")]
        assert len(ours) == N, f"listed {len(ours)} of {N}"
    return base.median(times)


def watch_rate(tug, path, make, prefix):
    """Events/s seen by one watch while N objects are created: first create sent → last event."""
    conn = tug.conn()
    status, data = conn.request("GET", path)
    base.check(status, data, "list before watch")
    rv = json.loads(data)["metadata"]["resourceVersion"]
    seen = set()
    done = threading.Event()
    ready = threading.Event()

    def reader():
        conn._connect()
        conn.c.putrequest("GET", f"{path}?watch=1&resourceVersion={rv}")
        conn.c.putheader("Accept", "application/json")
        conn.c.endheaders()
        response = conn.c.getresponse()
        ready.set()
        buf = b""
        while len(seen) < N:
            chunk = response.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    event = json.loads(line)
                    if event["type"] == "ADDED":
                        seen.add(event["object"]["metadata"]["name"])
        done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    ready.wait(10)
    t0 = time.perf_counter()
    creates(tug, path, make, prefix)
    if not done.wait(60):
        raise RuntimeError(f"watch saw {len(seen)} of {N} events")
    elapsed = time.perf_counter() - t0
    conn.close()
    return N / elapsed


def main():
    workdir = tempfile.mkdtemp(prefix="tug-bench-crd-")
    tug = base.Tug(os.path.join(workdir, "data"), base.free_port())
    try:
        tug.start()
        conn = tug.conn()
        status, data = conn.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
        base.check(status, data, "definition")
        results = {kind: {"creates/s": [], "list ms": [], "watch events/s": []} for kind in KINDS}
        for r in range(ROUNDS):
            for kind, (path_of, make) in KINDS.items():
                ns = f"{kind.lower()}-{r}"
                namespace(conn, ns)
                path = path_of(ns)
                results[kind]["creates/s"].append(creates(tug, path, make, "o"))
                results[kind]["list ms"].append(list_seconds(conn, path) * 1e3)
                watched = f"{kind.lower()}-w{r}"
                namespace(conn, watched)
                results[kind]["watch events/s"].append(watch_rate(tug, path_of(watched), make, "w"))
        print(f"{N} objects per round, {CLIENTS} clients, {ROUNDS} interleaved rounds (medians):")
        print(f"  {'':16s} {'ConfigMap':>12s} {'Widget (CR)':>12s} {'CR/built-in':>12s}")
        for metric in ("creates/s", "list ms", "watch events/s"):
            cm, cr = base.median(results["ConfigMap"][metric]), base.median(results["Widget"][metric])
            print(f"  {metric:16s} {cm:12.1f} {cr:12.1f} {cr / cm:12.2f}")
        conn.close()
    finally:
        tug.stop()
        for proc in list(base.CHILDREN):
            base.stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
