//! The scheduler against a real API server (in-process, on loopback, over a
//! temporary SQLite store): nodes with no agent behind them, pods created
//! through the API, decisions read back from the pods, events and conditions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use serde_json::json;

struct Cluster {
    client: Client,
    _dir: tempfile::TempDir,
}

async fn cluster() -> Cluster {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tug_store::SqliteStore::open(dir.path().join("db")).expect("store");
    let mut config = tug_apiserver::Config::new(
        dir.path(),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        Arc::new(store),
    );
    // No controller makes the `default` ServiceAccounts here.
    config.disabled_admission_plugins = vec!["ServiceAccount".into()];
    let server = tug_apiserver::start(config)
    .await
    .expect("server starts");
    let kubeconfig = Kubeconfig::read_from(server.kubeconfig()).expect("kubeconfig");
    tokio::spawn(server.wait());
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("config");
    let client = Client::try_from(config).expect("client");
    tokio::spawn(tug_scheduler::run(client.clone(), tug_scheduler::Options::default()));
    Cluster { client, _dir: dir }
}

async fn add_node(client: &Client, name: &str, cpu: &str, labels: serde_json::Value, taints: serde_json::Value) {
    let nodes: Api<Node> = Api::all(client.clone());
    let node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
    }))
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.expect("node created");
    let status = json!({"status": {
        "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}],
    }});
    nodes.patch_status(name, &PatchParams::default(), &Patch::Merge(status)).await.expect("node status");
}

async fn add_pod(client: &Client, pod: serde_json::Value) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &serde_json::from_value(pod).unwrap()).await.expect("pod created");
}

fn pod(name: &str, cpu: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}]});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name.trim_end_matches(char::is_numeric)}}, "spec": spec})
}

/// Waits until `check` holds for the pod, returning it.
async fn wait_for(client: &Client, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pod = pods.get(name).await.expect("pod readable");
        if check(&pod) {
            return pod;
        }
        assert!(Instant::now() < deadline, "pod {name} never {what}: {pod:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_land_where_the_rules_say() {
    let c = cluster().await;
    add_node(&c.client, "small", "1", json!({"disk": "hdd"}), json!([])).await;
    add_node(&c.client, "fast", "4", json!({"disk": "ssd"}), json!([])).await;
    add_node(&c.client, "gpu", "8", json!({"disk": "ssd"}), json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])).await;

    add_pod(&c.client, pod("picky", "100m", json!({"nodeSelector": {"disk": "ssd"}}))).await;
    let picky = wait_for(&c.client, "picky", "bound", |p| node_of(p).is_some()).await;
    assert_eq!(node_of(&picky), Some("fast"), "the gpu node's taint is not tolerated");
    let scheduled = picky.status.unwrap().conditions.unwrap();
    assert!(scheduled.iter().any(|c| c.type_ == "PodScheduled" && c.status == "True"));

    add_pod(&c.client, pod("tolerant", "6", json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}))).await;
    let tolerant = wait_for(&c.client, "tolerant", "bound", |p| node_of(p).is_some()).await;
    assert_eq!(node_of(&tolerant), Some("gpu"));

    // Two replicas that must not share a node land on different nodes.
    let apart = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}},
        "tolerations": [{"operator": "Exists"}]});
    add_node_labels(&c.client).await;
    add_pod(&c.client, pod("db1", "100m", apart.clone())).await;
    add_pod(&c.client, pod("db2", "100m", apart.clone())).await;
    let db1 = wait_for(&c.client, "db1", "bound", |p| node_of(p).is_some()).await;
    let db2 = wait_for(&c.client, "db2", "bound", |p| node_of(p).is_some()).await;
    assert_ne!(node_of(&db1), node_of(&db2));
}

/// Gives every node its hostname label, as agents do.
async fn add_node_labels(client: &Client) {
    let nodes: Api<Node> = Api::all(client.clone());
    for node in nodes.list(&ListParams::default()).await.unwrap() {
        let name = node.metadata.name.unwrap();
        let patch = json!({"metadata": {"labels": {"kubernetes.io/hostname": name}}});
        nodes.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unschedulable_pod_says_why_and_runs_once_a_node_fits() {
    let c = cluster().await;
    add_node(&c.client, "n1", "1", json!({}), json!([])).await;
    add_node(&c.client, "n2", "2", json!({}), json!([])).await;
    add_pod(&c.client, pod("huge", "3", json!({}))).await;
    let expected = "0/2 nodes are available: 2 Insufficient cpu.";
    let huge = wait_for(&c.client, "huge", "marked unschedulable", |p| {
        p.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| {
            c.iter().any(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
        })
    })
    .await;
    let condition = huge.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "PodScheduled").unwrap();
    assert_eq!(condition.message.as_deref(), Some(expected));
    let events: Api<Event> = Api::namespaced(c.client.clone(), "default");
    let events = events.list(&ListParams::default().fields("involvedObject.name=huge")).await.unwrap();
    let failed = events.items.iter().find(|e| e.reason.as_deref() == Some("FailedScheduling")).expect("a FailedScheduling event");
    assert_eq!((failed.type_.as_deref(), failed.message.as_deref()), (Some("Warning"), Some(expected)));

    // A node that fits joins: the pod is retried and bound there.
    add_node(&c.client, "n3", "4", json!({}), json!([])).await;
    let huge = wait_for(&c.client, "huge", "bound", |p| node_of(p).is_some()).await;
    assert_eq!(node_of(&huge), Some("n3"));
    let events: Api<Event> = Api::namespaced(c.client.clone(), "default");
    let events = events.list(&ListParams::default().fields("involvedObject.name=huge")).await.unwrap();
    assert!(
        events.items.iter().any(|e| e.reason.as_deref() == Some("Scheduled") && e.message.as_deref() == Some("Successfully assigned default/huge to n3")),
        "{:?}",
        events.items
    );
}
