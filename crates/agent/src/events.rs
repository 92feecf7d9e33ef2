//! Events about a pod, posted as kubelet posts them (`source.component: kubelet`,
//! `involvedObject` the pod, `fieldPath` the container).

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use serde_json::json;

/// Posts one event; a failure to post is only logged (events are best effort).
pub async fn record(client: &Client, pod: &Pod, node: &str, type_: &str, reason: &str, message: &str, container: Option<&str>) {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let now = Timestamp::now().to_string();
    let event = json!({
        "metadata": {"generateName": format!("{name}."), "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1", "kind": "Pod", "name": name, "namespace": namespace,
            "uid": pod.metadata.uid, "fieldPath": container.map(|c| format!("spec.containers{{{c}}}")),
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": "kubelet", "host": node},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": "kubelet",
        "reportingInstance": node,
    });
    let Ok(event) = serde_json::from_value::<Event>(event) else { return };
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    if let Err(e) = events.create(&PostParams::default(), &event).await {
        eprintln!("tug agent: event {reason} for pod {namespace}/{name}: {e}");
    }
}
