"""The official Python `kubernetes` client against a tug server.

Usage: client_flows.py KUBECONFIG. Exits non-zero (with a traceback) on the first
expectation that does not hold; prints "ok" at the end.
"""

import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
apps = client.AppsV1Api()
NS = "py"

core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))

# create / read / replace / patch / delete
cm = core.create_namespaced_config_map(NS, client.V1ConfigMap(
    metadata=client.V1ObjectMeta(name="settings", labels={"app": "py"}), data={"a": "1"}))
assert cm.metadata.uid and cm.metadata.resource_version, cm.metadata
read = core.read_namespaced_config_map("settings", NS)
assert read.data == {"a": "1"}, read.data
read.data["a"] = "2"
replaced = core.replace_namespaced_config_map("settings", NS, read)
assert replaced.data == {"a": "2"}
assert int(replaced.metadata.resource_version) > int(cm.metadata.resource_version)
patched = core.patch_namespaced_config_map("settings", NS, {"data": {"b": "3"}})
assert patched.data == {"a": "2", "b": "3"}, patched.data

# 409 on a stale resourceVersion
read.data["a"] = "stale"
try:
    core.replace_namespaced_config_map("settings", NS, read)
    raise AssertionError("a stale replace succeeded")
except ApiException as e:
    assert e.status == 409, e
    assert "the object has been modified" in e.body, e.body

# 422 with causes
try:
    core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Not_Valid")))
    raise AssertionError("an invalid name was accepted")
except ApiException as e:
    assert e.status == 422, e
    import json
    status = json.loads(e.body)
    assert status["reason"] == "Invalid"
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.name"], status

# a deployment, defaulted, scaled through its subresource
dep = apps.create_namespaced_deployment(NS, {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
assert dep.spec.replicas == 1 and dep.spec.strategy.type == "RollingUpdate"
scale = apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})
assert scale.spec.replicas == 3
assert apps.read_namespaced_deployment("web", NS).spec.replicas == 3

# list with a label selector, paged with limit/continue
for i in range(7):
    core.create_namespaced_config_map(NS, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=f"page-{i}", labels={"paged": "yes" if i % 2 == 0 else "no"})))
names, token, pages = [], None, 0
while True:
    page = core.list_namespaced_config_map(NS, label_selector="paged=yes", limit=2, _continue=token)
    assert len(page.items) <= 2, page.items
    names += [item.metadata.name for item in page.items]
    pages += 1
    token = page.metadata._continue
    if not token:
        break
assert names == ["page-0", "page-2", "page-4", "page-6"], names
assert pages >= 2, pages  # as in Kubernetes, the last full page may still carry a continue token
assert [i.metadata.name for i in core.list_namespaced_config_map(NS, label_selector="paged in (no)").items] == ["page-1", "page-3", "page-5"]

# a watch sees ADDED, MODIFIED, DELETED in order
start_rv = core.list_namespaced_config_map(NS).metadata.resource_version
seen = []
ready = threading.Event()

def run_watch():
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, NS, resource_version=start_rv,
                          field_selector="metadata.name=watched", timeout_seconds=20):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            w.stop()

thread = threading.Thread(target=run_watch)
thread.start()
core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched"), data={"x": "1"}))
core.patch_namespaced_config_map("watched", NS, {"data": {"x": "2"}})
core.delete_namespaced_config_map("watched", NS)
thread.join(timeout=30)
assert seen == [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")], seen

core.delete_namespaced_config_map("settings", NS)
try:
    core.read_namespaced_config_map("settings", NS)
    raise AssertionError("deleted configmap still readable")
except ApiException as e:
    assert e.status == 404

print("ok")
