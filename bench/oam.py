"""Driver of bench/oam.sh: times `tug app deploy` of a 10-component Application until its
10 Deployments exist, and `kubectl apply -f` of the same resources pre-rendered by `tug app
dry-run`, in a fresh namespace per run, interleaved. Deployments are polled with the
official Python client every 10 ms. Prints medians and the ratio kubectl/tug."""
import json, os, statistics, subprocess, sys, time

from kubernetes import client, config

tug, work, runs, kubeconfig = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
env = dict(os.environ, KUBECONFIG=kubeconfig)
config.load_kube_config(kubeconfig)
core, apps = client.CoreV1Api(), client.AppsV1Api()

components = []
for i in range(10):
    kind = "webservice" if i % 2 == 0 else "worker"
    c = {"name": f"c{i}", "type": kind, "properties": {"image": "busybox:latest", "cmd": ["sleep", "3600"], "cpu": "10m"},
         "traits": [{"type": "scaler", "properties": {"replicas": 2}}, {"type": "labels", "properties": {"tier": f"t{i}"}},
                    {"type": "env", "properties": {"env": {"INDEX": str(i)}}}]}
    if kind == "webservice":
        c["properties"]["port"] = 8000 + i
        c["traits"].append({"type": "expose", "properties": {"port": [8000 + i]}})
    else:
        c["traits"].append({"type": "storage", "properties": {"configMap": [{"name": f"conf{i}", "mountPath": "/etc/conf", "data": {"k": "v"}}]}})
    components.append(c)
application = {"apiVersion": "core.oam.dev/v1beta1", "kind": "Application", "metadata": {"name": "bench"}, "spec": {"components": components}}
app_file = os.path.join(work, "app.json")
open(app_file, "w").write(json.dumps(application))
rendered = os.path.join(work, "rendered.yaml")
text = subprocess.run([tug, "app", "dry-run", "-f", app_file], check=True, capture_output=True, text=True).stdout
# The dry run places resources in the Application's namespace (default); kubectl gets -n.
open(rendered, "w").write("".join(l for l in text.splitlines(True) if l != "  namespace: default\n"))
resources = sum(1 for line in open(rendered) if line.startswith("kind:"))


def until_deployments(namespace, n):
    while len(apps.list_namespaced_deployment(namespace).items) < n:
        time.sleep(0.01)


def timed(namespace, argv):
    core.create_namespace({"metadata": {"name": namespace}})
    t = time.perf_counter()
    subprocess.run(argv + ["-n", namespace], check=True, stdout=subprocess.DEVNULL, env=env)
    until_deployments(namespace, 10)
    return time.perf_counter() - t


tug_times, kubectl_times = [], []
for run in range(runs):
    tug_times.append(timed(f"oam-tug-{run}", [tug, "app", "deploy", "-f", app_file]))
    kubectl_times.append(timed(f"oam-kubectl-{run}", ["kubectl", "apply", "-f", rendered]))
t, k = statistics.median(tug_times), statistics.median(kubectl_times)
print(f"10-component Application ({resources} resources), median of {runs} interleaved runs, until the 10 Deployments exist")
print(f"tug app deploy (render + revision + apply in the controller) {t * 1000:8.1f} ms")
print(f"kubectl apply -f (pre-rendered manifests)                   {k * 1000:8.1f} ms")
print(f"kubectl/tug {k / t:5.2f}x")
