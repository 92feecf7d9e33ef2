#!/usr/bin/env python3
"""Authorization benchmark: requests of a system:masters admin beside those of an
RBAC-authorized user, in one run, with 1,000 Roles and 1,000 RoleBindings present.

Driven by bench/apiserver-auth.sh (see there for usage). Starts `tug server` itself
(by PID, in a temporary directory), issues the user's certificate with
`tug kubeconfig --user`, and stops and removes everything on the way out.

Each round sends the same GETs (a list of an empty namespace's pods, so the
request path itself is short and authorization shows) over keep-alive HTTPS
connections, admin and user rounds alternating. Reported: requests/s, server CPU
per request (from /proc/<pid>/stat), and the mean authorization decision time
from the server's own counters (/metrics: tug_authorization_duration_seconds_sum
over apiserver_authorization_decisions_total). Standard library only.
"""

import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

QUICK = os.environ.get("QUICK") == "1"
TUG = os.environ.get("TUG", "target/release/tug")
CLIENTS = int(os.environ.get("CLIENTS", "8"))
OBJECTS = int(os.environ.get("OBJECTS", "1000"))
REQUESTS = int(os.environ.get("REQUESTS", "2000" if QUICK else "10000"))
ROUNDS = 2 if QUICK else 3
# 1: every binding also names the user's group (its decision walks all of them);
# 0: the bindings name other users only (the user holds one binding).
SHARED_GROUP = os.environ.get("SHARED_GROUP", "1") == "1"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kubeconfig_identity(path, tmp, name):
    """(ssl context, ) for the kubeconfig's user: its cert and key written beside it."""
    text = open(path).read()
    field = lambda key: re.search(rf"{key}: (\S+)", text).group(1)
    ca, cert, key = (os.path.join(tmp, f"{name}.{ext}") for ext in ("ca", "crt", "key"))
    for file, key_name in ((ca, "certificate-authority-data"), (cert, "client-certificate-data"), (key, "client-key-data")):
        with open(file, "wb") as f:
            f.write(base64.b64decode(field(key_name)))
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    return context


class Client:
    def __init__(self, port, context):
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, context=context)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def authz_counters(client):
    status, text = client.call("GET", "/metrics")
    assert status == 200, text
    out = {}
    for line in text.decode().splitlines():
        m = re.match(r'(apiserver_authorization_decisions_total|tug_authorization_duration_seconds_sum)\{decision="allowed"\} (\S+)', line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out["apiserver_authorization_decisions_total"], out["tug_authorization_duration_seconds_sum"]


def load(port, context, path, total):
    """Sends `total` GETs from CLIENTS threads; returns the seconds taken."""
    per = total // CLIENTS
    errors = []

    def worker():
        client = Client(port, context)
        for _ in range(per):
            status, data = client.call("GET", path)
            if status != 200:
                errors.append((status, data[:200]))
                return

    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        sys.exit(f"apiserver-auth: requests failed: {errors[0]}")
    return elapsed, per * CLIENTS


def main():
    tmp = tempfile.mkdtemp(prefix="tug-auth-bench-")
    server = None
    try:
        port = free_port()
        data = os.path.join(tmp, "data")
        server = subprocess.Popen(
            [TUG, "server", "--data-dir", data, "--port", str(port), "--bind-address", "127.0.0.1", "--disable-scheduler"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "server.log"), "w"))
        admin_config = os.path.join(data, "kubeconfig.yaml")
        deadline = time.time() + 30
        while not os.path.exists(admin_config):
            if time.time() > deadline or server.poll() is not None:
                sys.exit("apiserver-auth: tug server did not start:\n" + open(os.path.join(tmp, "server.log")).read())
            time.sleep(0.05)
        admin_ctx = kubeconfig_identity(admin_config, tmp, "admin")
        admin = Client(port, admin_ctx)
        while True:
            try:
                if admin.call("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                admin = Client(port, admin_ctx)
            time.sleep(0.05)

        ns = "bench"
        assert admin.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})[0] == 201
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        started = time.perf_counter()
        for i in range(OBJECTS):
            role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": f"role-{i}", "namespace": ns},
                    "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": [f"cm-{i}"]}]}
            assert admin.call("POST", f"{rbac}/namespaces/{ns}/roles", role)[0] == 201
            # Every binding names the user's group too: its decision scans all of them.
            binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": f"binding-{i}", "namespace": ns},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"role-{i}"},
                       "subjects": [{"kind": "User", "name": f"user-{i}"}] + ([{"kind": "Group", "name": "bench-readers"}] if SHARED_GROUP else [])}
            assert admin.call("POST", f"{rbac}/namespaces/{ns}/rolebindings", binding)[0] == 201
        setup = time.perf_counter() - started
        reader_role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "pod-reader", "namespace": ns},
                       "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]}
        assert admin.call("POST", f"{rbac}/namespaces/{ns}/roles", reader_role)[0] == 201
        reader_binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "reader", "namespace": ns},
                          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
                          "subjects": [{"kind": "User", "name": "reader"}]}
        assert admin.call("POST", f"{rbac}/namespaces/{ns}/rolebindings", reader_binding)[0] == 201

        user_config = os.path.join(tmp, "reader.kubeconfig")
        subprocess.run([TUG, "kubeconfig", "--data-dir", data, "--user", "reader", "--group", "bench-readers", "-o", user_config], check=True)
        user_ctx = kubeconfig_identity(user_config, tmp, "reader")

        path = f"/api/v1/namespaces/{ns}/pods"
        load(port, admin_ctx, path, CLIENTS * 50)  # warm up
        load(port, user_ctx, path, CLIENTS * 50)
        results = {"admin (system:masters)": [0.0, 0, 0, 0, 0.0], "RBAC user": [0.0, 0, 0, 0, 0.0]}
        for _ in range(ROUNDS):
            for name, ctx in (("admin (system:masters)", admin_ctx), ("RBAC user", user_ctx)):
                decisions0, seconds0 = authz_counters(admin)
                cpu0 = cpu_ticks(server.pid)
                elapsed, sent = load(port, ctx, path, REQUESTS)
                cpu1 = cpu_ticks(server.pid)
                decisions1, seconds1 = authz_counters(admin)
                r = results[name]
                r[0] += elapsed
                r[1] += sent
                r[2] += cpu1 - cpu0
                r[3] += decisions1 - decisions0 - 1  # less the /metrics read itself
                r[4] += seconds1 - seconds0

        print(f"tug server, {CLIENTS} clients, GET {path} (empty list), {ROUNDS} alternating rounds of {REQUESTS} requests")
        naming = "all naming the user's group" if SHARED_GROUP else "none naming the user"
        print(f"present: {OBJECTS} Roles and {OBJECTS} RoleBindings ({naming}; created in {setup:.1f} s)")
        print(f"{'who':<24}{'requests/s':>12}{'CPU µs/request':>16}{'authz µs/decision':>19}")
        rates = {}
        for name, (elapsed, sent, ticks, decisions, seconds) in results.items():
            rates[name] = sent / elapsed
            cpu_us = ticks / TICKS / sent * 1e6
            decision_us = seconds / max(decisions, 1) * 1e6
            print(f"{name:<24}{rates[name]:>12.0f}{cpu_us:>16.0f}{decision_us:>19.2f}")
        ratio = rates["RBAC user"] / rates["admin (system:masters)"]
        print(f"ratio RBAC user / admin requests/s: {ratio:.3f} ({(1 - ratio) * 100:.1f}% overhead)")
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
