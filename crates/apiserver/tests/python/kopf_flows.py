"""A kopf operator (kopf_greeter.py, run by `kopf run` as its users run it)
reconciles Greetings against a tug server: creation makes a ConfigMap and
records the handler's result in status, a spec change updates it, deletion
runs the delete handler behind kopf's finalizer.

Usage: kopf_flows.py KUBECONFIG. Prints "ok" at the end; on failure, kopf's log.
"""

import os
import subprocess
import sys
import tempfile
import time

from kubernetes import client, config
from kubernetes.client.rest import ApiException

KUBECONFIG = sys.argv[1]
config.load_kube_config(config_file=KUBECONFIG)
ext = client.ApiextensionsV1Api()
core = client.CoreV1Api()
custom = client.CustomObjectsApi()
NS = "default"
GROUP, VERSION, PLURAL = "kopf.example.com", "v1", "greetings"

ext.create_custom_resource_definition({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "greetings.kopf.example.com"},
    "spec": {"group": GROUP, "scope": "Namespaced",
             "names": {"plural": PLURAL, "singular": "greeting", "kind": "Greeting"},
             "versions": [{"name": VERSION, "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {
                                   "greeting": {"type": "string"},
                                   "times": {"type": "integer", "default": 1}}},
                               "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]}})


def eventually(what, check, timeout=30):
    deadline = time.time() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def config_map_text():
    try:
        return core.read_namespaced_config_map("hi-greeting", NS).data["text"]
    except ApiException as e:
        if e.status == 404:
            return None
        raise


log = tempfile.NamedTemporaryFile(prefix="kopf-", suffix=".log", delete=False)
operator = subprocess.Popen(
    [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", NS,
     os.path.join(os.path.dirname(os.path.abspath(__file__)), "kopf_greeter.py")],
    env={**os.environ, "KUBECONFIG": KUBECONFIG}, stdout=log, stderr=subprocess.STDOUT)
try:
    custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Greeting",
        "metadata": {"name": "hi"}, "spec": {"greeting": "hey", "times": 2}})
    assert eventually("the ConfigMap", config_map_text) == "hey hey"
    owner = core.read_namespaced_config_map("hi-greeting", NS).metadata.owner_references[0]
    assert (owner.kind, owner.name) == ("Greeting", "hi"), owner

    def handled():
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "hi")
        return obj.get("status", {}).get("created") and obj
    obj = eventually("the create handler's result in status", handled)
    assert obj["status"]["created"] == {"text": "hey hey"}, obj["status"]
    assert any(f.startswith("kopf.zalando.org/") for f in obj["metadata"]["finalizers"]), obj["metadata"]

    custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "hi", {"spec": {"greeting": "yo", "times": 3}})
    eventually("the updated ConfigMap", lambda: config_map_text() == "yo yo yo")

    custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "hi")

    def gone():
        try:
            custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "hi")
            return False
        except ApiException as e:
            return e.status == 404
    eventually("the Greeting to go", gone)
    assert config_map_text() is None, "the delete handler did not run"
except BaseException:
    operator.terminate()
    operator.wait(timeout=10)
    log.seek(0)
    sys.stderr.write(open(log.name).read())
    raise
finally:
    if operator.poll() is None:
        operator.terminate()
        try:
            operator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            operator.kill()
            operator.wait()
    os.unlink(log.name)
print("ok")
