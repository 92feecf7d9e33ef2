#!/usr/bin/env python3
"""API server benchmark: `tug server` beside raw SQLite and etcd on the same machine.

Driven by bench/apiserver.sh (see there for usage). Starts every process it
measures itself, by PID, in a temporary directory on the same disk, and stops
and removes them all on the way out.

Clients are plain http.client connections kept alive (one per client thread),
the same code for tug (HTTPS + the admin client certificate from the generated
kubeconfig) and for etcd (its HTTP/JSON gateway, /v3/kv/*), so both pay the
same client overhead. Standard library only.
"""

import base64
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import shutil

QUICK = os.environ.get("QUICK") == "1"
CLIENTS = int(os.environ.get("CLIENTS", "16"))
TUG = os.environ.get("TUG", "target/release/tug")
ETCD = os.environ.get("ETCD", "etcd")
SKIP_ETCD = os.environ.get("SKIP_ETCD") == "1"
JSON_OUT = os.environ.get("JSON_OUT")

# Sizes: full run / QUICK=1.
N = {
    "seq_creates": (2000, 300),
    "conc_creates": (8000, 1600),
    "pods": (10000, 1000),
    "gets": (2000, 400),
    "lists": (10, 5),
    "watch_events": (500, 100),
    "starts": (5, 5),
    "sqlite_seq": (2000, 300),
    "sqlite_conc": (4000, 800),
}
N = {k: (v[1] if QUICK else v[0]) for k, v in N.items()}
ROUNDS = 3 if QUICK else 5  # interleaved rounds per throughput phase

sys.setswitchinterval(0.0005)  # the watcher thread must not wait 5 ms for the GIL
VALUE_1K = "x" * 1000           # ~1 KiB ConfigMap payload / etcd value / SQLite value

CHILDREN = []                   # Popen objects we started (stopped by PID on exit)
RESULTS = {"quick": QUICK, "clients": CLIENTS}


def log(msg):
    print(f"[apibench] {msg}", file=sys.stderr, flush=True)


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def median(values):
    return statistics.median(values) if values else float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    """(VmRSS, VmHWM) in KiB from /proc/PID/status."""
    rss = hwm = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc, timeout=10):
    """Stops a child we started: SIGINT (graceful), then SIGKILL."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in CHILDREN:
        CHILDREN.remove(proc)


# --------------------------------------------------------------------------
# HTTP clients


class Conn:
    """One keep-alive connection (HTTPS with a client cert, or plain HTTP)."""

    def __init__(self, host, port, tls=None, warm=None):
        self.host, self.port, self.tls, self.warm = host, port, tls, warm
        self.c = None

    def _connect(self):
        if self.tls:
            self.c = http.client.HTTPSConnection(self.host, self.port, context=self.tls, timeout=60)
        else:
            self.c = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.c.connect()
        self.c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, method, path, body=None, headers=None):
        hdrs = {"Accept": "application/json"}
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in (0, 1):
            if self.c is None:
                self._connect()
            try:
                self.c.request(method, path, body=body, headers=hdrs)
                r = self.c.getresponse()
                data = r.read()
                return r.status, data
            except (http.client.HTTPException, ConnectionError, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise

    def close(self):
        if self.c:
            self.c.close()
            self.c = None


def check(status, data, what, ok=(200, 201)):
    if status not in ok:
        raise RuntimeError(f"{what}: HTTP {status}: {data[:300]!r}")


def run_clients(n_ops, clients, make_conn, op, start=0):
    """Runs op(conn, i) for i in range(start, start + n_ops) over `clients`
    threads, each with its own connection, opened and warmed by one request
    before the clock starts. Returns (wall seconds, per-op latencies)."""
    lock = threading.Lock()
    nxt = [start]
    n_ops += start
    lat = []
    errors = []
    barrier = threading.Barrier(clients + 1)

    def worker():
        conn = make_conn()
        mine = []
        if getattr(conn, "warm", None):
            conn.request("GET", conn.warm)
        barrier.wait()
        try:
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= n_ops:
                    break
                t0 = time.perf_counter()
                op(conn, i)
                mine.append(time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            conn.close()
            with lock:
                lat.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return wall, lat


ACC = {}  # name -> raw measurements, accumulated over interleaved rounds


def throughput(name, n, clients, make_conn, op, pid=None, start=0):
    """One round of a throughput phase: n ops over `clients` clients. Rounds of
    the same name add up (see finish())."""
    cpu0 = cpu_seconds(pid) if pid else None
    client0 = time.process_time()
    wall, lat = run_clients(n, clients, make_conn, op, start)
    a = ACC.setdefault(name, {"kind": "throughput", "ops": 0, "seconds": 0.0, "lat": [], "rates": [],
                              "clients": clients, "client_cpu": 0.0, "server_cpu": 0.0 if pid else None})
    a["ops"] += n
    a["seconds"] += wall
    a["lat"] += lat
    a["rates"].append(n / wall)
    a["client_cpu"] += time.process_time() - client0
    if pid:
        a["server_cpu"] += cpu_seconds(pid) - cpu0


def latency(name, n, conn, op, start=0):
    a = ACC.setdefault(name, {"kind": "latency", "lat": []})
    for i in range(start, start + n):
        t0 = time.perf_counter()
        op(conn, i)
        a["lat"].append(time.perf_counter() - t0)


def finish():
    """Turns the accumulated rounds into RESULTS."""
    for name, a in ACC.items():
        lat = a["lat"]
        res = {"n": len(lat), "median_ms": median(lat) * 1e3, "p99_ms": pct(lat, 99) * 1e3}
        if a["kind"] == "throughput":
            res.update(ops=a["ops"], clients=a["clients"], seconds=a["seconds"], per_s=a["ops"] / a["seconds"],
                       rounds_per_s=[round(r) for r in a["rates"]],
                       client_cpu_us_per_op=a["client_cpu"] / a["ops"] * 1e6)
            if a["server_cpu"] is not None:
                res["server_cpu_us_per_op"] = a["server_cpu"] / a["ops"] * 1e6
            log(f"{name}: {res['per_s']:.0f}/s, rounds {res['rounds_per_s']} "
                f"(median {res['median_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms)")
        else:
            log(f"{name}: median {res['median_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms")
        RESULTS[name] = res


# --------------------------------------------------------------------------
# tug server


class Tug:
    def __init__(self, data_dir, port, extra_args=()):
        self.data_dir, self.port, self.extra_args = data_dir, port, list(extra_args)
        self.proc = None
        self.tls = None

    def start(self):
        """Starts `tug server`; returns seconds from spawn to /readyz 200."""
        readyz = ssl.create_default_context()
        readyz.check_hostname = False
        readyz.verify_mode = ssl.CERT_NONE
        errlog = open(os.path.join(os.path.dirname(self.data_dir), f"tug-{os.path.basename(self.data_dir)}.log"), "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [TUG, "server", "--data-dir", self.data_dir, "--port", str(self.port), "--bind-address", "127.0.0.1", *self.extra_args],
            stdout=errlog, stderr=errlog, stdin=subprocess.DEVNULL)
        CHILDREN.append(self.proc)
        deadline = t0 + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tug server exited with {self.proc.returncode} (log: {errlog.name})")
            try:
                probe = time.perf_counter()
                c = http.client.HTTPSConnection("127.0.0.1", self.port, context=readyz, timeout=2)
                c.request("GET", "/readyz")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError("tug server was not ready within 30 s")
            time.sleep(0.005)
        now = time.perf_counter()
        self.last_probe = now - probe  # the answered probe alone: connect + TLS + GET
        self._load_kubeconfig()
        return now - t0

    def _load_kubeconfig(self):
        text = open(os.path.join(self.data_dir, "kubeconfig.yaml")).read()

        def field(name):
            m = re.search(rf"{name}:\s*(\S+)", text)
            if not m:
                raise RuntimeError(f"kubeconfig has no {name}")
            return base64.b64decode(m.group(1))

        d = tempfile.mkdtemp(dir=os.path.dirname(self.data_dir))
        for fn, name in (("ca.crt", "certificate-authority-data"),
                         ("client.crt", "client-certificate-data"),
                         ("client.key", "client-key-data")):
            with open(os.path.join(d, fn), "wb") as f:
                f.write(field(name))
        ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.crt"))
        ctx.load_cert_chain(os.path.join(d, "client.crt"), os.path.join(d, "client.key"))
        ctx.check_hostname = False  # served for 127.0.0.1 / localhost; we only trust the CA
        self.tls = ctx

    def conn(self):
        return Conn("127.0.0.1", self.port, self.tls, warm="/readyz")

    def stop(self):
        stop(self.proc)


class busy_cpu:
    """A busy-looping child process for the duration of a with block."""

    def __enter__(self):
        self.spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        CHILDREN.append(self.spin)
        time.sleep(0.05)

    def __exit__(self, *exc):
        self.spin.kill()
        self.spin.wait()
        CHILDREN.remove(self.spin)


def fsync_probe(workdir, n=200):
    """The machine itself: fdatasync of 1 KiB appends, with the CPUs otherwise
    idle and with one busy-looping process beside it. On some VMs an idle
    vCPU notices the disk's completion only at the next timer tick."""
    def run():
        p = os.path.join(workdir, "fsync-probe")
        fd = os.open(p, os.O_CREAT | os.O_WRONLY)
        lat = []
        for i in range(n):
            os.pwrite(fd, b"x" * 1024, i * 1024)
            t0 = time.perf_counter()
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t0)
        os.close(fd)
        os.unlink(p)
        return median(lat) * 1e3
    alone = run()
    with busy_cpu():
        busy = run()
    RESULTS["fdatasync_ms"] = {"alone": alone, "busy_cpu": busy}
    log(f"fdatasync of a 1 KiB append: median {alone:.2f} ms, {busy:.2f} ms with a busy CPU beside it")


def startup_benchmarks(workdir, port):
    """Start -> /readyz: fresh data dirs (the first start generates the CA and
    certificates), then restarts of an existing one."""
    for phase in ("fresh", "restart"):
        times, probes = [], []
        for k in range(N["starts"]):
            d = os.path.join(workdir, f"{phase}{k if phase == 'fresh' else ''}")
            t = Tug(d, port)
            times.append(t.start())
            probes.append(t.last_probe)
            t.stop()
            if phase == "fresh" and k < N["starts"] - 1:
                shutil.rmtree(d, ignore_errors=True)
            if phase == "fresh" and k == N["starts"] - 1:
                os.rename(d, os.path.join(workdir, "restart"))
        RESULTS[f"start_{phase}_ms"] = {"median": median(times) * 1e3, "all": [x * 1e3 for x in times],
                                        "probe_all": [x * 1e3 for x in probes]}
        log(f"start->readyz ({phase}): median {median(times)*1e3:.0f} ms, each {[round(x*1e3) for x in times]}")
    shutil.rmtree(os.path.join(workdir, "restart"), ignore_errors=True)


def tug_loaded_restarts(tug):
    times, probes = [], []
    for _ in range(N["starts"]):
        times.append(tug.start())
        probes.append(tug.last_probe)
        tug.stop()
    RESULTS["start_loaded_ms"] = {"median": median(times) * 1e3, "all": [x * 1e3 for x in times],
                                  "probe_all": [x * 1e3 for x in probes]}
    log(f"start->readyz (store after the load): median {median(times)*1e3:.0f} ms")


def tug_ops(tug):
    """The operations on tug: (name -> op(conn, i))."""
    def cm(ns):
        def op(conn, i):
            s, d = conn.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                                {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": f"cm-{i}"}, "data": {"v": VALUE_1K}})
            check(s, d, "create configmap")
        return op

    n_cm = N["seq_creates"]

    def get(conn, i):
        s, d = conn.request("GET", f"/api/v1/namespaces/bench-seq/configmaps/cm-{(i * 7919) % n_cm}")
        check(s, d, "get configmap", ok=(200,))

    def pod(conn, i):
        s, d = conn.request("POST", "/api/v1/namespaces/bench-pods/pods",
                            {"apiVersion": "v1", "kind": "Pod",
                             "metadata": {"name": f"pod-{i}", "labels": {"app": "bench"}},
                             "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})
        check(s, d, "create pod")

    def lst(conn, i):
        s, d = conn.request("GET", "/api/v1/namespaces/bench-pods/pods")
        check(s, d, "list pods", ok=(200,))
        RESULTS["tug_list_bytes"] = len(d)
        if i == 0:
            items = len(json.loads(d)["items"])
            if items != N["pods"]:
                raise RuntimeError(f"list returned {items} pods, expected {N['pods']}")

    def lst_paged(conn, i):
        cont = ""
        while True:
            s, d = conn.request("GET", "/api/v1/namespaces/bench-pods/pods?limit=500" + (f"&continue={cont}" if cont else ""))
            check(s, d, "list pods (paged)", ok=(200,))
            cont = json.loads(d)["metadata"].get("continue", "")
            if not cont:
                break

    return {"create_seq": cm("bench-seq"), "create_conc": cm("bench-conc"), "get": get,
            "pod": pod, "list": lst, "list_paged": lst_paged}


def server_means(text):
    counts, sums, out = {}, {}, {}
    for line in text.splitlines():
        m = re.match(r'(apiserver_request_total|apiserver_request_duration_seconds_sum)\{verb="([^"]*)",resource="([^"]*)",code="(\d+)"\} (\S+)', line)
        if m:
            key = f"{m.group(2)} {m.group(3)}"
            (counts if m.group(1) == "apiserver_request_total" else sums)[key] = \
                (counts if m.group(1) == "apiserver_request_total" else sums).get(key, 0) + float(m.group(5))
        m = re.match(r"tug_store_revision (\d+)", line)
        if m:
            out["revision"] = int(m.group(1))
    out["mean_ms"] = {k: sums.get(k, 0) / counts[k] * 1e3 for k in counts if counts[k]}
    return out


def watch_stream(conn_factory, start_request, parse, expect):
    """Opens a streaming watch on a fresh connection and records arrival
    times of the events named in `expect` (a set). Returns (arrivals dict,
    ready event, thread, conn)."""
    arrivals = {}
    ready = threading.Event()
    done = threading.Event()
    conn = conn_factory()

    def reader():
        try:
            r = start_request(conn)
            ready.set()
            buf = b""
            while not done.is_set():
                chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
                if not chunk:
                    break
                now = time.perf_counter()
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        for name in parse(line):
                            arrivals.setdefault(name, now)
                if expect <= arrivals.keys():
                    break
        except Exception as e:  # noqa: BLE001
            if not done.is_set():
                log(f"watch reader: {e!r}")
        finally:
            ready.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    ready.wait(10)
    return arrivals, t, conn, done


def summarize_watch(n, sent, answered, arrivals):
    after_resp = [arrivals[k] - answered[k] for k in answered if k in arrivals]
    after_send = [arrivals[k] - sent[k] for k in sent if k in arrivals]
    return {
        "n": n,
        "received": len(after_resp),
        "after_response_median_ms": median(after_resp) * 1e3,
        "after_response_p99_ms": pct(after_resp, 99) * 1e3,
        "after_send_median_ms": median(after_send) * 1e3,
        "before_response_share": sum(1 for x in after_resp if x < 0) / max(1, len(after_resp)),
        "write_median_ms": median([answered[k] - sent[k] for k in answered]) * 1e3,
    }


def watch_latency_tug(tug, c):
    n = N["watch_events"]
    s, d = c.request("GET", "/api/v1/namespaces/bench-watch/configmaps")
    check(s, d, "list configmaps")
    rv = json.loads(d)["metadata"]["resourceVersion"]
    names = {f"w-{i}" for i in range(n)}

    def start(conn):
        conn._connect()
        conn.c.putrequest("GET", f"/api/v1/namespaces/bench-watch/configmaps?watch=1&resourceVersion={rv}")
        conn.c.putheader("Accept", "application/json")
        conn.c.endheaders()
        r = conn.c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"watch: HTTP {r.status}")
        return r

    def parse(line):
        ev = json.loads(line)
        if ev.get("type") == "ADDED":
            yield ev["object"]["metadata"]["name"]

    arrivals, t, wconn, done = watch_stream(tug.conn, start, parse, names)
    time.sleep(0.2)
    sent, answered = {}, {}
    for i in range(n):
        name = f"w-{i}"
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": VALUE_1K}}
        sent[name] = time.perf_counter()
        s, d = c.request("POST", "/api/v1/namespaces/bench-watch/configmaps", body)
        answered[name] = time.perf_counter()
        check(s, d, "create configmap (watch)")
        time.sleep(0.002)  # unloaded latency: one write in flight
    t.join(10)
    done.set()
    wconn.close()
    res = summarize_watch(n, sent, answered, arrivals)
    log(f"tug watch: {res['received']}/{n} events, median {res['after_response_median_ms']:.2f} ms after the write's response "
        f"({res['after_send_median_ms']:.2f} ms after the request was sent)")
    return res


# --------------------------------------------------------------------------
# raw SQLite, same durability


class SqliteRaw:
    """The store's table shape, WAL, synchronous=FULL, 1 KiB values."""

    def __init__(self, workdir):
        self.path = os.path.join(workdir, "raw.db")
        db = self.connect()
        db.execute("CREATE TABLE log (revision INTEGER PRIMARY KEY, key TEXT NOT NULL, value BLOB NOT NULL)")
        db.execute("CREATE INDEX log_key ON log (key, revision)")
        db.close()
        self.value = VALUE_1K.encode()

    def connect(self):
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def conn(self):
        raw = self

        class C:
            def __init__(self):
                self.db = raw.connect()

            def close(self):
                self.db.close()
        return C()

    def put(self, conn, i):
        conn.db.execute("INSERT INTO log (key, value) VALUES (?, ?)", (f"/registry/configmaps/x/k{i}", self.value))

    # SQLite has one writer at a time: 16 threads only queue on its lock (and
    # Python's busy handler sleeps). The figure that matters for 16 clients is
    # the group-commit ceiling: CLIENTS rows per durable commit, in rows/s.
    def put_group(self, conn, i):
        conn.db.execute("BEGIN IMMEDIATE")
        conn.db.executemany("INSERT INTO log (key, value) VALUES (?, ?)",
                            [(f"/registry/configmaps/y/k{i}-{j}", self.value) for j in range(CLIENTS)])
        conn.db.execute("COMMIT")


# --------------------------------------------------------------------------
# etcd through its HTTP/JSON gateway


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


class Etcd:
    def __init__(self, workdir):
        self.workdir = workdir
        self.port, self.peer = free_port(), free_port()
        self.proc = None

    def start(self):
        url = f"http://127.0.0.1:{self.port}"
        errlog = open(os.path.join(self.workdir, "etcd.log"), "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [ETCD, "--name", "bench", "--data-dir", os.path.join(self.workdir, "etcd"),
             "--listen-client-urls", url, "--advertise-client-urls", url,
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer}",
             "--initial-cluster", f"bench=http://127.0.0.1:{self.peer}"],
            stdout=errlog, stderr=errlog, stdin=subprocess.DEVNULL)
        CHILDREN.append(self.proc)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode} (see {errlog.name})")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/health")
                r = c.getresponse()
                body = r.read()
                c.close()
                if r.status == 200 and b"true" in body:
                    break
            except OSError:
                pass
            if time.perf_counter() - t0 > 30:
                raise RuntimeError("etcd was not healthy within 30 s")
            time.sleep(0.005)
        return time.perf_counter() - t0

    def conn(self):
        return Conn("127.0.0.1", self.port, warm="/health")

    def stop(self):
        stop(self.proc)

    def ops(self, sample_pod):
        value = b64(VALUE_1K)
        pod = b64(sample_pod)
        n_keys = N["seq_creates"]
        prefix = "/registry/pods/bench/"
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)

        def put(prefix, v):
            def op(c, i):
                s, d = c.request("POST", "/v3/kv/put", json.dumps({"key": b64(f"{prefix}{i}"), "value": v}))
                check(s, d, "etcd put", ok=(200,))
            return op

        def get(c, i):
            s, d = c.request("POST", "/v3/kv/range", json.dumps({"key": b64(f"/registry/configmaps/seq/cm-{(i * 7919) % n_keys}")}))
            check(s, d, "etcd range", ok=(200,))

        def rng(c, i):
            s, d = c.request("POST", "/v3/kv/range", json.dumps({"key": b64(prefix), "range_end": b64(end)}))
            check(s, d, "etcd range prefix", ok=(200,))
            RESULTS["etcd_range_bytes"] = len(d)
            if i == 0 and int(json.loads(d).get("count", 0)) != N["pods"]:
                raise RuntimeError("etcd range returned a wrong count")

        return {"create_seq": put("/registry/configmaps/seq/cm-", value),
                "create_conc": put("/registry/configmaps/conc/cm-", value),
                "get": get, "pod": put(prefix + "pod-", pod), "list": rng}


def watch_latency_etcd(conn_factory, c):
    n = N["watch_events"]
    prefix = "/registry/configmaps/watch/"
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    names = {f"w-{i}" for i in range(n)}

    def start(conn):
        conn._connect()
        body = json.dumps({"create_request": {"key": b64(prefix), "range_end": b64(end)}})
        conn.c.putrequest("POST", "/v3/watch")
        conn.c.putheader("Content-Type", "application/json")
        conn.c.putheader("Content-Length", str(len(body)))
        conn.c.endheaders(body.encode())
        r = conn.c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"etcd watch: HTTP {r.status}")
        return r

    def parse(line):
        msg = json.loads(line)
        for ev in msg.get("result", {}).get("events", []) or []:
            yield base64.b64decode(ev["kv"]["key"]).decode()[len(prefix):]

    arrivals, t, wconn, done = watch_stream(conn_factory, start, parse, names)
    time.sleep(0.2)
    sent, answered = {}, {}
    value = b64(VALUE_1K)
    for i in range(n):
        name = f"w-{i}"
        sent[name] = time.perf_counter()
        s, d = c.request("POST", "/v3/kv/put", json.dumps({"key": b64(prefix + name), "value": value}))
        answered[name] = time.perf_counter()
        check(s, d, "etcd put (watch)", ok=(200,))
        time.sleep(0.002)
    t.join(10)
    done.set()
    wconn.close()
    res = summarize_watch(n, sent, answered, arrivals)
    log(f"etcd watch: {res['received']}/{n} events, median {res['after_response_median_ms']:.2f} ms after the put's response")
    return res


# --------------------------------------------------------------------------
# report


def report():
    R = RESULTS

    def g(name, field):
        v = R.get(name)
        return None if v is None else v.get(field)

    def fmt(v, unit=""):
        if v is None:
            return "-"
        if isinstance(v, float) and v != v:
            return "-"
        if abs(v) >= 100:
            return f"{v:,.0f}{unit}"
        if abs(v) >= 10:
            return f"{v:.1f}{unit}"
        return f"{v:.2f}{unit}"

    def ratio(a, b):
        return f"{a / b:.2f}x" if a and b else "-"

    rows = []
    npods = N["pods"]
    seq, conc = g("tug_create_seq", "per_s"), g("tug_create_conc", "per_s")
    def sq(name, k=1):
        a, b = g(name, "per_s"), g(name + "_busy", "per_s")
        return f"{fmt(a and a * k)} / {fmt(b and b * k)}" if a else "-"
    rows.append(("creates/s, 1 client (ConfigMap ~1 KiB)", fmt(seq), sq("sqlite_commit_seq"),
                 fmt(g("etcd_put_seq", "per_s")), ratio(seq, g("etcd_put_seq", "per_s"))))
    rows.append((f"creates/s, {CLIENTS} clients", fmt(conc), sq("sqlite_commit_group", CLIENTS),
                 fmt(g("etcd_put_conc", "per_s")), ratio(conc, g("etcd_put_conc", "per_s"))))
    rows.append((f"  create latency {CLIENTS} clients, median ms", fmt(g("tug_create_conc", "median_ms")),
                 "", fmt(g("etcd_put_conc", "median_ms")), ""))
    rows.append((f"  server CPU per create, {CLIENTS} clients, us", fmt(g("tug_create_conc", "server_cpu_us_per_op")), "",
                 fmt(g("etcd_put_conc", "server_cpu_us_per_op")),
                 ratio(g("tug_create_conc", "server_cpu_us_per_op"), g("etcd_put_conc", "server_cpu_us_per_op"))))
    rows.append((f"pod creates/s, {CLIENTS} clients", fmt(g("tug_create_pods", "per_s")), "",
                 fmt(g("etcd_put_pods", "per_s")), ratio(g("tug_create_pods", "per_s"), g("etcd_put_pods", "per_s"))))
    rows.append(("GET one object, median ms", fmt(g("tug_get", "median_ms")), "", fmt(g("etcd_get", "median_ms")),
                 ratio(g("tug_get", "median_ms"), g("etcd_get", "median_ms"))))
    rows.append(("GET one object, p99 ms", fmt(g("tug_get", "p99_ms")), "", fmt(g("etcd_get", "p99_ms")),
                 ratio(g("tug_get", "p99_ms"), g("etcd_get", "p99_ms"))))
    rows.append((f"LIST {npods:,} pods, median ms", fmt(g("tug_list_pods", "median_ms")), "",
                 fmt(g("etcd_range_pods", "median_ms")), ratio(g("tug_list_pods", "median_ms"), g("etcd_range_pods", "median_ms"))))
    rows.append((f"LIST {npods:,} pods, p99 ms", fmt(g("tug_list_pods", "p99_ms")), "",
                 fmt(g("etcd_range_pods", "p99_ms")), ratio(g("tug_list_pods", "p99_ms"), g("etcd_range_pods", "p99_ms"))))
    rows.append((f"LIST {npods:,} pods in pages of 500, median ms", fmt(g("tug_list_pods_paged500", "median_ms")), "", "", ""))
    rows.append(("watch event after write response, median ms", fmt(g("tug_watch", "after_response_median_ms")), "",
                 fmt(g("etcd_watch", "after_response_median_ms")), ""))
    rows.append(("watch event after write sent, median ms", fmt(g("tug_watch", "after_send_median_ms")), "",
                 fmt(g("etcd_watch", "after_send_median_ms")), ratio(g("tug_watch", "after_send_median_ms"), g("etcd_watch", "after_send_median_ms"))))
    rss = lambda k: R[k] / 1024 if R.get(k) else None  # noqa: E731
    rows.append(("idle RSS after start, MiB (goal < 40)", fmt(rss("tug_rss_idle_kib")), "", fmt(rss("etcd_rss_idle_kib")),
                 ratio(rss("tug_rss_idle_kib"), rss("etcd_rss_idle_kib"))))
    rows.append(("RSS after the load, MiB", fmt(rss("tug_rss_loaded_kib")), "", fmt(rss("etcd_rss_loaded_kib")),
                 ratio(rss("tug_rss_loaded_kib"), rss("etcd_rss_loaded_kib"))))
    rows.append(("peak RSS (VmHWM), MiB", fmt(rss("tug_rss_peak_kib")), "", fmt(rss("etcd_rss_peak_kib")), ""))
    rows.append(("start -> /readyz, fresh data dir, median ms (goal < 300)", fmt(g("start_fresh_ms", "median")), "",
                 fmt(R.get("etcd_start_ms")), ""))
    rows.append(("start -> /readyz, existing data dir, median ms", fmt(g("start_restart_ms", "median")), "", "", ""))
    rows.append(("start -> /readyz, store after the load, median ms", fmt(g("start_loaded_ms", "median")), "", "", ""))

    head = ("", "tug server", "SQLite raw", "etcd 3.4", "tug/etcd")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(5)]
    line = lambda r: "| " + " | ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(r)) + " |"  # noqa: E731
    out = [line(head), "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"]
    out += [line(r) for r in rows]
    print("\n".join(out))
    print(f"SQLite raw: WAL, synchronous=FULL, 1 KiB rows, one Python thread; 'idle / busy': alone, and with a busy-looping "
          f"process beside it (see the fdatasync line below). The {CLIENTS}-client row is {CLIENTS} rows per commit "
          f"(the group-commit ceiling), in rows/s. etcd: HTTP/JSON gateway, keep-alive, same client code.")
    tm = R.get("tug_metrics", {}).get("mean_ms", {})
    if tm:
        print("\nserver-side mean handler time (from /metrics), ms: " +
              ", ".join(f"{k} {v:.2f}" for k, v in sorted(tm.items())))
    for name in ("tug_create_seq", "tug_create_conc", "tug_create_pods", "etcd_put_seq", "etcd_put_conc"):
        if name in R:
            x = R[name]
            print(f"{name}: {x['per_s']:.0f}/s, median {x['median_ms']:.2f} ms, p99 {x['p99_ms']:.2f} ms, "
                  f"server CPU {x.get('server_cpu_us_per_op', float('nan')):.0f} us/op, client CPU {x['client_cpu_us_per_op']:.0f} us/op")
    for w in ("tug_watch", "etcd_watch"):
        if w in R:
            x = R[w]
            print(f"{w}: {x['received']}/{x['n']} events; after response median {x['after_response_median_ms']:.2f} ms, "
                  f"p99 {x['after_response_p99_ms']:.2f} ms; {x['before_response_share']*100:.0f}% arrived before the write's response; "
                  f"write median {x['write_median_ms']:.2f} ms")
    for k in ("start_fresh_ms", "start_restart_ms", "start_loaded_ms"):
        if k in R:
            print(f"{k}: each start {[round(x) for x in R[k]['all']]} ms; of which the answered /readyz probe alone "
                  f"(connect + TLS + GET) {[round(x) for x in R[k]['probe_all']]} ms")
    if "fdatasync_ms" in R:
        print(f"machine: fdatasync of a 1 KiB append, median {R['fdatasync_ms']['alone']:.2f} ms with idle CPUs, "
              f"{R['fdatasync_ms']['busy_cpu']:.2f} ms with one busy-looping process beside it")
    print(f"\nload: {os.getloadavg()[0]:.2f} (1-min loadavg at the end; the machine has {os.cpu_count()} CPUs)")


def main():
    if not (os.path.isfile(TUG) and os.access(TUG, os.X_OK)):
        sys.exit(f"bench/apiserver.py: no tug binary at {TUG}")
    workdir = tempfile.mkdtemp(prefix="tug-apibench-", dir=os.environ.get("BENCH_TMPDIR"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_begin = time.time()
    use_etcd = not SKIP_ETCD and shutil.which(ETCD)
    R = ROUNDS
    try:
        log(f"work dir {workdir} ({'QUICK' if QUICK else 'full'} run, {CLIENTS} concurrent clients, {R} interleaved rounds)")
        fsync_probe(workdir)
        port = free_port()
        startup_benchmarks(workdir, port)

        # Both servers up side by side; each phase runs in rounds that take
        # turns (tug, SQLite, etcd), so a noisy neighbour hits all alike.
        tug = Tug(os.path.join(workdir, "tug"), port)
        tug.start()
        etcd = Etcd(workdir) if use_etcd else None
        if etcd:
            RESULTS["etcd_start_ms"] = etcd.start() * 1e3
        time.sleep(2)
        RESULTS["tug_rss_idle_kib"], _ = rss_kib(tug.proc.pid)
        log(f"tug idle RSS: {RESULTS['tug_rss_idle_kib']/1024:.1f} MiB")
        if etcd:
            RESULTS["etcd_rss_idle_kib"], _ = rss_kib(etcd.proc.pid)
            log(f"etcd: healthy after {RESULTS['etcd_start_ms']:.0f} ms, idle RSS {RESULTS['etcd_rss_idle_kib']/1024:.1f} MiB")
        raw = SqliteRaw(workdir)
        c = tug.conn()
        for ns in ("bench-seq", "bench-conc", "bench-pods", "bench-watch"):
            s, d = c.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            check(s, d, f"create namespace {ns}")
        top = tug_ops(tug)
        tpid = tug.proc.pid
        eop = epid = None

        def rounds(total, body):
            per = total // R
            for r in range(R):
                body(per, r * per)

        log("1. creates, sequential")
        def seq(n, at):
            throughput("tug_create_seq", n, 1, tug.conn, top["create_seq"], tpid, at)
            throughput("sqlite_commit_seq", N["sqlite_seq"] // R, 1, raw.conn, raw.put, None, at)
            with busy_cpu():
                throughput("sqlite_commit_seq_busy", N["sqlite_seq"] // R, 1, raw.conn, raw.put, None, at)
            if etcd:
                throughput("etcd_put_seq", n, 1, etcd.conn, eops["create_seq"], epid, at)
        eops = etcd.ops(b"{}") if etcd else None
        epid = etcd.proc.pid if etcd else None
        rounds(N["seq_creates"], seq)

        log(f"1. creates, {CLIENTS} clients")
        def conc(n, at):
            throughput("tug_create_conc", n, CLIENTS, tug.conn, top["create_conc"], tpid, at)
            throughput("sqlite_commit_group", N["sqlite_conc"] // CLIENTS // R, 1, raw.conn, raw.put_group, None, at)
            with busy_cpu():
                throughput("sqlite_commit_group_busy", N["sqlite_conc"] // CLIENTS // R, 1, raw.conn, raw.put_group, None, at)
            if etcd:
                throughput("etcd_put_conc", n, CLIENTS, etcd.conn, eops["create_conc"], epid, at)
        rounds(N["conc_creates"], conc)

        log("2. GET one object")
        ec = etcd.conn() if etcd else None
        def gets(n, at):
            latency("tug_get", n, c, top["get"], at)
            if etcd:
                latency("etcd_get", n, ec, eops["get"], at)
        rounds(N["gets"], gets)

        log(f"2. {N['pods']} pods, then LIST")
        top["pod"](c, 0)
        s, sample_pod = c.request("GET", "/api/v1/namespaces/bench-pods/pods/pod-0")
        check(s, sample_pod, "get pod")
        RESULTS["pod_json_bytes"] = len(sample_pod)
        if etcd:
            eops = etcd.ops(sample_pod)  # the same Pod JSON tug stores
            eops["pod"](ec, 0)
        def pods(n, at):
            throughput("tug_create_pods", n, CLIENTS, tug.conn, top["pod"], tpid, at + 1)
            if etcd:
                throughput("etcd_put_pods", n, CLIENTS, etcd.conn, eops["pod"], epid, at + 1)
        rounds(N["pods"] - R, pods)
        # fill up the last few so that exactly N["pods"] exist
        done = 1 + (N["pods"] - R) // R * R
        for i in range(done, N["pods"]):
            top["pod"](c, i)
            if etcd:
                eops["pod"](ec, i)
        for i in range(N["lists"]):
            latency("tug_list_pods", 1, c, top["list"], i)
            if etcd:
                latency("etcd_range_pods", 1, ec, eops["list"], i)
            latency("tug_list_pods_paged500", 1, c, top["list_paged"], i)

        log("3. watch-event delivery")
        RESULTS["tug_watch"] = watch_latency_tug(tug, c)
        if etcd:
            RESULTS["etcd_watch"] = watch_latency_etcd(etcd.conn, ec)
        finish()

        s, d = c.request("GET", "/metrics")
        if s == 200:
            RESULTS["tug_metrics"] = server_means(d.decode())
        c.close()
        if ec:
            ec.close()
        time.sleep(2)
        RESULTS["tug_rss_loaded_kib"], RESULTS["tug_rss_peak_kib"] = rss_kib(tpid)
        log(f"tug RSS after load: {RESULTS['tug_rss_loaded_kib']/1024:.1f} MiB (peak {RESULTS['tug_rss_peak_kib']/1024:.1f} MiB)")
        if etcd:
            RESULTS["etcd_rss_loaded_kib"], RESULTS["etcd_rss_peak_kib"] = rss_kib(epid)
            log(f"etcd RSS after load: {RESULTS['etcd_rss_loaded_kib']/1024:.1f} MiB (peak {RESULTS['etcd_rss_peak_kib']/1024:.1f} MiB)")
            etcd.stop()
        tug.stop()
        tug_loaded_restarts(tug)
        RESULTS["seconds"] = time.time() - t_begin
        report()
        if JSON_OUT:
            with open(JSON_OUT, "w") as f:
                json.dump(RESULTS, f, indent=1)
    finally:
        for p in list(CHILDREN):
            stop(p, timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
