"""Authentication with the official Python `kubernetes` client against a tug server.

Usage: authn_flows.py KUBECONFIG. As the admin (the kubeconfig's client
certificate) it makes a ServiceAccount and asks the TokenRequest API for a
token; then, with that bearer token alone, it reads the API and asks who it
is (SelfSubjectReview); TokenReview confirms the token for its audience; a
garbage token gets 401. Prints "ok" at the end.
"""

import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
admin = client.ApiClient()
core = client.CoreV1Api(admin)
authn = client.AuthenticationV1Api(admin)

core.create_namespaced_service_account("default", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="py-bot")))
request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=["py-audience", "https://kubernetes.default.svc.cluster.local"], expiration_seconds=900))
token = core.create_namespaced_service_account_token("py-bot", "default", request).status.token
assert token.count(".") == 2, "not a JWT"


def as_token(bearer):
    c = client.Configuration()
    c.host = admin.configuration.host
    c.ssl_ca_cert = admin.configuration.ssl_ca_cert
    c.api_key = {"authorization": f"Bearer {bearer}"}
    return client.ApiClient(c)


bot = as_token(token)
client.CoreV1Api(bot).list_namespaced_config_map("default")
me = client.AuthenticationV1Api(bot).create_self_subject_review(client.V1SelfSubjectReview())
info = me.status.user_info
assert info.username == "system:serviceaccount:default:py-bot", info
assert "system:serviceaccounts:default" in info.groups and "system:authenticated" in info.groups, info.groups

review = authn.create_token_review(client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token, audiences=["py-audience"])))
assert review.status.authenticated and review.status.audiences == ["py-audience"], review.status
assert review.status.user.username == info.username

try:
    client.CoreV1Api(as_token("garbage")).list_namespaced_config_map("default")
    raise AssertionError("a garbage token was accepted")
except ApiException as e:
    assert e.status == 401, e.status
    assert "garbage" not in (e.body or ""), "the token was echoed"

print("ok")
