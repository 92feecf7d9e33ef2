"""Admission seen from the official Python `kubernetes` client.

Usage: admission_flows.py KUBECONFIG. Exits non-zero (with a traceback) on the first
expectation that does not hold; prints "ok" at the end.
"""

import json
import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
NS = "pyadm"


def refused(call, code, text):
    try:
        call()
    except ApiException as e:
        body = json.loads(e.body)
        assert e.status == code, (e.status, body)
        assert text in body["message"], body["message"]
        return body
    raise AssertionError(f"expected HTTP {code} ({text})")


def pod(name, resources=None, security=None):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(containers=[client.V1Container(
            name="c", image="busybox", resources=resources, security_context=security)]))


core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))

# LimitRange defaults.
core.create_namespaced_limit_range(NS, client.V1LimitRange(
    metadata=client.V1ObjectMeta(name="lr"),
    spec=client.V1LimitRangeSpec(limits=[client.V1LimitRangeItem(
        type="Container", default={"cpu": "200m"}, default_request={"cpu": "100m"}, max={"cpu": "500m"})])))
made = core.create_namespaced_pod(NS, pod("defaulted"))
assert made.spec.containers[0].resources.requests == {"cpu": "100m"}, made.spec.containers[0].resources
assert made.spec.containers[0].resources.limits == {"cpu": "200m"}, made.spec.containers[0].resources
refused(lambda: core.create_namespaced_pod(NS, pod("big", client.V1ResourceRequirements(limits={"cpu": "1"}))),
        403, 'pods "big" is forbidden: maximum cpu usage per Container is 500m, but limit is 1')

# ResourceQuota (its status set as the quota controller would).
core.create_namespaced_resource_quota(NS, client.V1ResourceQuota(
    metadata=client.V1ObjectMeta(name="count"), spec=client.V1ResourceQuotaSpec(hard={"pods": "2"})))
core.patch_namespaced_resource_quota_status("count", NS, {"status": {"hard": {"pods": "2"}, "used": {"pods": "1"}}})
core.create_namespaced_pod(NS, pod("second"))
assert core.read_namespaced_resource_quota("count", NS).status.used == {"pods": "2"}
body = refused(lambda: core.create_namespaced_pod(NS, pod("third")), 403,
               'pods "third" is forbidden: exceeded quota: count, requested: pods=1, used: pods=2, limited: pods=2')
assert body["reason"] == "Forbidden", body

# PodSecurity enforce.
core.patch_namespace(NS, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
refused(lambda: core.create_namespaced_pod(NS, pod("root", security=client.V1SecurityContext(privileged=True))),
        403, 'violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)')

# Malformed policy objects.
body = refused(lambda: core.create_namespaced_resource_quota(NS, client.V1ResourceQuota(
    metadata=client.V1ObjectMeta(name="bad"), spec=client.V1ResourceQuotaSpec(hard={"pods": "many"}))),
    422, 'ResourceQuota "bad" is invalid: spec.hard[pods]: Invalid value: "many"')
assert body["details"]["causes"][0]["field"] == "spec.hard[pods]", body

print("ok")
