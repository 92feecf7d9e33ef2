"""Driver of bench/charts.sh: times `tug chart template` (the whole CLI process) and
Helm's engine through helm-python-sdk (in process: chart load + render, no interpreter
start-up counted), interleaved run by run; then `tug chart install` vs Helm's install
(helm-python-sdk) of a 30-object chart against one `tug server`. Prints medians and the
ratio helm/tug."""
import json, os, statistics, subprocess, sys, time

import helm_python as helm

tug, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
# Untimed pause before each timed run, as bench/runtime.sh does: Helm's Go runtime keeps
# collecting and returning memory on its own threads after a render, and would otherwise
# share the two cores with the tug process timed right after it.
pause = int(os.environ.get("PAUSE_MS", "100")) / 1000
kubeconfig = sys.argv[4] if len(sys.argv) > 4 else None
bitnami = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/conformance/helm-bitnami")
if not os.path.isdir(bitnami):
    bitnami = "/work/shared/conformance/helm-bitnami"

cases = [
    ("nginx (bitnami)", f"{bitnami}/charts/nginx", f"{bitnami}/scenarios/nginx-defaults.values.yaml"),
    ("postgresql (bitnami)", f"{bitnami}/charts/postgresql", f"{bitnami}/scenarios/postgresql-replication.values.yaml"),
    ("50 templates on common", f"{work}/big", None),
]


def values_of(path):
    if not path:
        return {}
    return helm.values_from_yaml(open(path).read())


def tug_template(chart, values_file):
    args = [tug, "chart", "template", "bench", chart, "-n", "web"]
    if values_file:
        args += ["-f", values_file]
    t = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def helm_template(chart, values):
    t = time.perf_counter()
    c = helm.Chart.load(chart)
    c.render(values, name="bench", namespace="web", is_install=True, revision=1)
    return time.perf_counter() - t


def report(name, tug_times, helm_times):
    t, h = statistics.median(tug_times), statistics.median(helm_times)
    print(f"{name:28} tug {t * 1000:8.1f} ms   helm {h * 1000:8.1f} ms   helm/tug {h / t:5.2f}x")


print(f"render, median of {runs} interleaved runs")
for name, chart, values_file in cases:
    values = values_of(values_file)
    tug_template(chart, values_file), helm_template(chart, values)  # warm caches
    ts, hs = [], []
    for _ in range(runs):
        time.sleep(pause)
        ts.append(tug_template(chart, values_file))
        time.sleep(pause)
        hs.append(helm_template(chart, values))
    report(name, ts, hs)

if kubeconfig:
    env = dict(os.environ, KUBECONFIG=kubeconfig)
    cfg = helm.Config(kubeconfig_path=kubeconfig, namespace="default")
    chart = f"{work}/thirty"
    ts, hs = [], []
    for i in range(runs):
        t = time.perf_counter()
        subprocess.run([tug, "chart", "install", f"t{i}", chart], check=True, stdout=subprocess.DEVNULL, env=env)
        ts.append(time.perf_counter() - t)
        t = time.perf_counter()
        cfg.install(chart, f"h{i}")
        hs.append(time.perf_counter() - t)
        subprocess.run([tug, "chart", "uninstall", f"t{i}", f"h{i}"], check=True, stdout=subprocess.DEVNULL, env=env)
    print(f"install of a 30-object chart, median of {runs} interleaved runs")
    report("30 objects", ts, hs)
