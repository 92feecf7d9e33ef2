"""A kopf operator, written as kopf's users write one: each Greeting
(kopf.example.com/v1) gets a ConfigMap `<name>-greeting` holding its text,
kept in step on update and removed (behind kopf's finalizer) on delete.
kopf_flows.py runs it with `kopf run` against a tug server."""

import kopf
import kubernetes


def text_of(spec):
    return " ".join([spec.get("greeting", "hello")] * int(spec.get("times", 1)))


def write(name, namespace, body, spec):
    core = kubernetes.client.CoreV1Api()
    cm = {"metadata": {"name": f"{name}-greeting"}, "data": {"text": text_of(spec)}}
    kopf.adopt(cm, owner=body)
    try:
        core.replace_namespaced_config_map(f"{name}-greeting", namespace, cm)
    except kubernetes.client.rest.ApiException as e:
        if e.status != 404:
            raise
        core.create_namespaced_config_map(namespace, cm)
    return {"text": text_of(spec)}


@kopf.on.startup()
def login(settings, **_):
    kubernetes.config.load_kube_config()
    settings.posting.level = 30  # warnings only: events are not what is tested


@kopf.on.create("kopf.example.com", "v1", "greetings")
def created(name, namespace, body, spec, **_):
    return write(name, namespace, body, spec)


@kopf.on.update("kopf.example.com", "v1", "greetings", field="spec")
def updated(name, namespace, body, spec, **_):
    return write(name, namespace, body, spec)


@kopf.on.delete("kopf.example.com", "v1", "greetings")
def deleted(name, namespace, **_):
    try:
        kubernetes.client.CoreV1Api().delete_namespaced_config_map(f"{name}-greeting", namespace)
    except kubernetes.client.rest.ApiException as e:
        if e.status != 404:
            raise
