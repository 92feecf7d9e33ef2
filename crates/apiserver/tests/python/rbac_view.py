"""The Python `kubernetes` client as a user bound to `view` in one namespace.

Usage: rbac_view.py KUBECONFIG NAMESPACE. Reads succeed; writes, Secrets and other
namespaces get 403 with Kubernetes' wording; prints "ok" at the end.
"""

import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
NS = sys.argv[2]
core = client.CoreV1Api()
authz = client.AuthorizationV1Api()

names = [cm.metadata.name for cm in core.list_namespaced_config_map(NS).items]
assert "settings" in names, names
assert core.read_namespaced_config_map("settings", NS).data == {"a": "1"}


def forbidden(call, *args):
    try:
        call(*args)
    except ApiException as e:
        assert e.status == 403, (e.status, e.body)
        return e.body
    raise AssertionError(f"{call.__name__} was allowed")


body = forbidden(core.create_namespaced_config_map, NS,
                 client.V1ConfigMap(metadata=client.V1ObjectMeta(name="new")))
assert 'User \\"viewer\\" cannot create resource \\"configmaps\\"' in body or \
    'User "viewer" cannot create resource "configmaps"' in body, body
forbidden(core.delete_namespaced_config_map, "settings", NS)
forbidden(core.list_namespaced_secret, NS)
forbidden(core.list_namespaced_config_map, "default")

review = authz.create_self_subject_access_review(client.V1SelfSubjectAccessReview(
    spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(
        namespace=NS, verb="list", resource="pods"))))
assert review.status.allowed, review.status
review = authz.create_self_subject_access_review(client.V1SelfSubjectAccessReview(
    spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(
        namespace=NS, verb="delete", resource="pods"))))
assert not review.status.allowed, review.status
print("ok")
