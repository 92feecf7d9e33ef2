#!/usr/bin/env python3
"""Authentication benchmark: GET requests per second against one `tug server`,
the same request authenticated four ways in the same run: the admin client
certificate, a static token (--token-auth-file), a ServiceAccount JWT (from
the TokenRequest API) and a bootstrap token (the join token `tug server`
writes). Rounds are interleaved so a noisy neighbour hits all alike; ratios
are against the client certificate.

Driven by bench/authn.sh. Reuses bench/apiserver.py's harness (process
handling, keep-alive clients, rounds). Standard library only.
"""

import json
import os
import shutil
import signal
import ssl
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver as h  # noqa: E402

N = int(os.environ.get("N", "1500"))          # GETs per method per round
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CLIENTS = int(os.environ.get("CLIENTS", "8"))
STATIC_TOKEN = "bench-static-token-0123456789"
PATH = "/api/v1/namespaces/default/configmaps/bench"


def main():
    workdir = tempfile.mkdtemp(prefix="tug-authnbench-", dir=os.environ.get("BENCH_TMPDIR"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        tokens = os.path.join(workdir, "tokens.csv")
        with open(tokens, "w") as f:
            f.write(f'{STATIC_TOKEN},bench,uid-bench,"bench-group"\n')
        data = os.path.join(workdir, "tug")
        tug = h.Tug(data, h.free_port(), ["--disable-scheduler", "--token-auth-file", tokens])
        tug.start()
        c = tug.conn()
        for method, path, body in (
            ("POST", "/api/v1/namespaces/default/configmaps",
             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bench"}, "data": {"k": "v"}}),
            ("POST", "/api/v1/namespaces/default/serviceaccounts",
             {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bench"}}),
        ):
            s, d = c.request(method, path, body)
            h.check(s, d, f"{method} {path}")
        s, d = c.request("POST", "/api/v1/namespaces/default/serviceaccounts/bench/token",
                         {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
        h.check(s, d, "TokenRequest")
        sa_token = json.loads(d)["status"]["token"]
        join_token = open(os.path.join(data, "token")).read().strip()

        ca_only = ssl.create_default_context(cafile=os.path.join(data, "tls", "ca.crt"))
        ca_only.check_hostname = False

        def bearer_conn():
            return h.Conn("127.0.0.1", tug.port, ca_only, warm="/readyz")

        def op(token):
            headers = {"Authorization": f"Bearer {token}"} if token else None

            def get(conn, _i):
                s, d = conn.request("GET", PATH, headers=headers)
                h.check(s, d, "GET")
            return get

        methods = [
            ("client_cert", tug.conn, op(None)),
            ("static_token", bearer_conn, op(STATIC_TOKEN)),
            ("serviceaccount_jwt", bearer_conn, op(sa_token)),
            ("bootstrap_token", bearer_conn, op(join_token)),
        ]
        h.log(f"{CLIENTS} clients, {ROUNDS} rounds of {N} GETs per method")
        for r in range(ROUNDS):
            for name, make_conn, get in methods:
                h.throughput(name, N, CLIENTS, make_conn, get, tug.proc.pid, r * N)
        h.finish()
        base = h.RESULTS["client_cert"]["per_s"]
        print(f"{'authentication':<20} {'GET/s':>8} {'median ms':>10} {'p99 ms':>8} {'server CPU µs/op':>17} {'vs cert':>8}")
        for name, _, _ in methods:
            r = h.RESULTS[name]
            print(f"{name:<20} {r['per_s']:>8.0f} {r['median_ms']:>10.2f} {r['p99_ms']:>8.2f} "
                  f"{r['server_cpu_us_per_op']:>17.0f} {r['per_s'] / base:>8.2f}")
        tug.stop()
    finally:
        for proc in list(h.CHILDREN):
            h.stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
