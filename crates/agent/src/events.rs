//! Events the node posts: about a pod, as kubelet posts them (`source.component: kubelet`,
//! `involvedObject` the pod, `fieldPath` the container), and about other objects for the
//! node's other components (the ingress controller).

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use serde_json::{json, Value};

/// Posts one event about a pod; a failure to post is only logged (events are best effort).
pub async fn record(client: &Client, pod: &Pod, node: &str, type_: &str, reason: &str, message: &str, container: Option<&str>) {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let involved = json!({
        "apiVersion": "v1", "kind": "Pod", "name": name, "namespace": namespace,
        "uid": pod.metadata.uid, "fieldPath": container.map(|c| format!("spec.containers{{{c}}}")),
    });
    post(client, involved, ("kubelet", node), type_, reason, message).await;
}

/// Posts one event about `involved` (an ObjectReference with at least kind, name and
/// namespace) from `source` (component, host); a failure to post is only logged.
pub async fn post(client: &Client, involved: Value, source: (&str, &str), type_: &str, reason: &str, message: &str) {
    let namespace = involved["namespace"].as_str().unwrap_or("default").to_string();
    let name = involved["name"].as_str().unwrap_or_default().to_string();
    let (component, host) = source;
    let now = Timestamp::now().to_string();
    let event = json!({
        "metadata": {"generateName": format!("{name}."), "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": component, "host": host},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": component,
        "reportingInstance": host,
    });
    let Ok(event) = serde_json::from_value::<Event>(event) else { return };
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    if let Err(e) = events.create(&PostParams::default(), &event).await {
        eprintln!("tug agent: event {reason} for {namespace}/{name}: {e}");
    }
}
