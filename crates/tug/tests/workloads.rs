//! Deployments, ReplicaSets and cascading deletion on a real node (`tug up` with busybox
//! containers), driven with kubectl, `tug` and the Python client: a deleted pod is
//! replaced; scaling by hand; a rolling update that a watcher checks at every pod event;
//! `rollout undo`; `--cascade=orphan`; namespace deletion; a rollout interrupted by a
//! restart of `tug up` finishes. Needs root (see `tug-testkit`).

use serde_json::Value;
use tug_testkit::{text, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

/// A Deployment of busybox pods that sleep; `VERSION` tells templates apart.
fn deployment(name: &str, namespace: &str, replicas: u32, version: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 1}}}}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:latest
        imagePullPolicy: Never
        command: [sleep, '3600']
        env: [{{name: VERSION, value: '{version}'}}]
"#
    )
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).expect("JSON")
}

/// The non-terminating pods with `app=<app>`.
fn pods(node: &Cluster, namespace: &str, app: &str) -> Vec<Value> {
    let list = json(&node.kubectl(&["get", "pods", "-n", namespace, "-l", &format!("app={app}"), "-o", "json"]));
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect()
}

fn version(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["env"][0]["value"].as_str().unwrap_or_default()
}

fn tug(node: &Cluster, args: &[&str]) -> String {
    let out = node.tug_output(args);
    assert!(out.status.success(), "tug {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Watches the pods of `web` with the Python client until the rollout to VERSION=2 is
/// complete, checking at every event that at most 4 non-terminating pods exist (3 +
/// maxSurge 1) and at least 2 are ready (3 - maxUnavailable 1).
const PYTHON_ROLLOUT: &str = r#"
import threading, time
from kubernetes import client, config, watch
config.load_kube_config()
core, apps = client.CoreV1Api(), client.AppsV1Api()
live, problems, events = {}, [], [0]
listed = threading.Event()
stop = threading.Event()

def ready(p):
    return any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))

def check():
    alive = [p for p in live.values() if p.metadata.deletion_timestamp is None]
    n_ready = sum(1 for p in alive if ready(p))
    if len(alive) > 4:
        problems.append(f"{len(alive)} pods exceed replicas + maxSurge = 4")
    if n_ready < 2:
        problems.append(f"{n_ready} ready pods are fewer than replicas - maxUnavailable = 2")

def watcher():
    pods = core.list_namespaced_pod("default", label_selector="app=web")
    for p in pods.items:
        live[p.metadata.name] = p
    listed.set()
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_pod, "default", label_selector="app=web",
                       resource_version=pods.metadata.resource_version, timeout_seconds=120):
        p = ev["object"]
        if ev["type"] == "DELETED":
            live.pop(p.metadata.name, None)
        else:
            live[p.metadata.name] = p
        events[0] += 1
        check()
        if stop.is_set():
            w.stop()

t = threading.Thread(target=watcher, daemon=True)
t.start()
listed.wait(30)
apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [
    {"name": "c", "env": [{"name": "VERSION", "value": "2"}]}]}}}})
deadline = time.time() + 90
while time.time() < deadline:
    d = apps.read_namespaced_deployment("web", "default")
    s = d.status
    if (s.observed_generation == d.metadata.generation and s.updated_replicas == 3
            and s.replicas == 3 and s.available_replicas == 3):
        break
    time.sleep(0.2)
else:
    raise SystemExit("the rollout did not finish")
time.sleep(1)
stop.set()
assert not problems, problems[:5]
assert events[0] >= 6, f"only {events[0]} pod events"
print(f"bounds held over {events[0]} pod events")
"#;

#[test]
fn deployments_replace_scale_roll_within_bounds_and_undo() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let node = Cluster::up(TUG);

    // kubectl create deployment sends protobuf; the server decodes it.
    let created = node.kubectl(&["create", "deployment", "proto", "--image=busybox:latest", "--replicas=0", "--", "sleep", "60"]);
    assert_eq!(created.trim(), "deployment.apps/proto created");
    let proto = node.get("deployment", "proto");
    assert_eq!(proto["spec"]["template"]["spec"]["containers"][0]["command"], serde_json::json!(["sleep", "60"]));
    assert_eq!(proto["spec"]["selector"]["matchLabels"]["app"], "proto");
    node.kubectl(&["delete", "deployment", "proto"]);

    node.apply(&deployment("web", "default", 3, "1"));
    let status = tug(&node, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert!(status.trim_end().ends_with("deployment \"web\" successfully rolled out"), "{status}");
    let table = tug(&node, &["get", "deployments"]);
    let header: Vec<&str> = table.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert!(table.lines().any(|l| l.split_whitespace().take(4).eq(["web", "3/3", "3", "3"])), "{table}");
    let sets = tug(&node, &["get", "replicasets"]);
    assert!(sets.lines().next().unwrap_or_default().split_whitespace().eq(["NAME", "DESIRED", "CURRENT", "READY", "AGE"]), "{sets}");

    // A deleted pod is replaced.
    let victim = pods(&node, "default", "web")[0]["metadata"]["name"].as_str().unwrap().to_string();
    node.kubectl(&["delete", "pod", &victim, "--wait=false"]);
    node.eventually("the deleted pod is replaced", 60, || {
        let now = pods(&node, "default", "web");
        now.len() == 3 && now.iter().all(|p| p["metadata"]["name"] != victim.as_str())
    });
    node.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);

    // Scaling by hand, with kubectl (the scale subresource) and with tug.
    node.kubectl(&["scale", "deployment", "web", "--replicas=4"]);
    node.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert_eq!(pods(&node, "default", "web").len(), 4);
    tug(&node, &["scale", "deployment", "web", "--replicas=3"]);
    node.eventually("scaled down to 3", 30, || pods(&node, "default", "web").len() == 3);

    // A rolling update, watched at every pod event by the Python client.
    let said = node.python(PYTHON_ROLLOUT);
    assert!(said.contains("bounds held"), "{said}");
    assert!(pods(&node, "default", "web").iter().all(|p| version(p) == "2"));
    let history = tug(&node, &["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revisions, ["1", "2"], "{history}");

    // kubectl's undo restores the previous template; tug's goes to a chosen revision.
    node.kubectl(&["rollout", "undo", "deployment/web"]);
    node.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    node.eventually("only VERSION=1 pods", 30, || {
        let now = pods(&node, "default", "web");
        now.len() == 3 && now.iter().all(|p| version(p) == "1")
    });
    let d = node.get("deployment", "web");
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
    let undone = tug(&node, &["rollout", "undo", "deployment/web", "--to-revision=2"]);
    assert_eq!(undone.trim(), "deployment.apps/web rolled back");
    tug(&node, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    node.eventually("only VERSION=2 pods", 30, || {
        let now = pods(&node, "default", "web");
        now.len() == 3 && now.iter().all(|p| version(p) == "2")
    });
    let events = node.kubectl(&["get", "events", "--field-selector", "reason=ScalingReplicaSet", "-o", "jsonpath={.items[*].message}"]);
    assert!(events.contains("Scaled up replica set web-") && events.contains("Scaled down replica set web-"), "{events}");
    node.kubectl(&["delete", "deployment", "web"]);
    node.eventually("web's pods gone", 60, || pods(&node, "default", "web").is_empty());
}

#[test]
fn deletion_cascades_or_orphans_and_namespaces_empty() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let node = Cluster::up(TUG);
    node.kubectl(&["create", "namespace", "scratch"]);
    node.apply(&deployment("keep", "default", 2, "1"));
    node.apply(&deployment("gone", "scratch", 2, "1"));
    node.kubectl(&["create", "configmap", "settings", "-n", "scratch", "--from-literal=a=1"]);
    node.kubectl(&["rollout", "status", "deployment/keep", "--timeout=90s"]);
    node.kubectl(&["rollout", "status", "deployment/gone", "-n", "scratch", "--timeout=90s"]);

    // Orphan: the Deployment goes, its ReplicaSet and pods stay, unowned.
    node.kubectl(&["delete", "deployment", "keep", "--cascade=orphan"]);
    let sets = json(&node.kubectl(&["get", "replicasets", "-l", "app=keep", "-o", "json"]));
    let set = &sets["items"][0];
    assert!(set["metadata"]["ownerReferences"].as_array().is_none_or(|r| r.is_empty()), "{set}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(pods(&node, "default", "keep").len(), 2, "orphaned pods were deleted");

    // Background (tug's default): the ReplicaSet goes, then its pods.
    let name = set["metadata"]["name"].as_str().unwrap().to_string();
    let out = tug(&node, &["delete", "replicaset", &name]);
    assert_eq!(out.trim(), format!("replicaset.apps \"{name}\" deleted"));
    node.eventually("the set's pods collected", 60, || pods(&node, "default", "keep").is_empty());

    // A namespace is Terminating until emptied, then gone, its pods with it.
    node.kubectl(&["delete", "namespace", "scratch", "--wait=false"]);
    let phase = node.kubectl(&["get", "namespace", "scratch", "-o", "jsonpath={.status.phase}", "--ignore-not-found"]);
    assert!(phase.is_empty() || phase == "Terminating", "{phase}");
    node.eventually("the namespace is gone", 60, || {
        node.kubectl(&["get", "namespaces", "-o", "name"]).lines().all(|l| l != "namespace/scratch")
    });
    let left = node.kubectl(&["get", "pods,replicasets,deployments,configmaps", "-n", "scratch", "-o", "name"]);
    assert_eq!(left.trim(), "", "left in the deleted namespace");
}

#[test]
fn a_rollout_interrupted_by_a_restart_finishes() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let mut node = Cluster::up(TUG);
    node.apply(&deployment("app", "default", 4, "1"));
    node.kubectl(&["rollout", "status", "deployment/app", "--timeout=90s"]);
    node.kubectl(&["set", "env", "deployment/app", "VERSION=2"]);
    node.eventually("the rollout is under way", 30, || {
        let now = pods(&node, "default", "app");
        now.iter().any(|p| version(p) == "2") && now.iter().any(|p| version(p) == "1")
    });
    node.stop();
    node.start();
    node.kubectl(&["rollout", "status", "deployment/app", "--timeout=120s"]);
    node.eventually("4 new pods, no old ones", 30, || {
        let now = pods(&node, "default", "app");
        now.len() == 4 && now.iter().all(|p| version(p) == "2")
    });
    let sets = json(&node.kubectl(&["get", "replicasets", "-l", "app=app", "-o", "json"]));
    let mut sizes: Vec<i64> = sets["items"].as_array().unwrap().iter().map(|s| s["spec"]["replicas"].as_i64().unwrap()).collect();
    sizes.sort();
    assert_eq!(sizes, [0, 4]);
    node.kubectl(&["delete", "deployment", "app"]);
    node.eventually("app's pods gone", 60, || pods(&node, "default", "app").is_empty());
}
