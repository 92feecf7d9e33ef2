//! Node lifecycle, as kube-controller-manager's node lifecycle and taint eviction
//! controllers: a node whose Lease in `kube-node-lease` has not been renewed for the grace
//! period gets its conditions set to Unknown (reason NodeStatusUnknown) and the
//! `node.kubernetes.io/unreachable` taints (NoSchedule and NoExecute); a node reporting
//! Ready=False gets `node.kubernetes.io/not-ready` instead; the taints go once it is Ready
//! again. Pods on a node with NoExecute taints are deleted at once when they do not
//! tolerate one, or after the shortest `tolerationSeconds` of the tolerations that match,
//! counted from the taint's `timeAdded`, so their controllers replace them elsewhere.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::node_match::tolerates;
use crate::owned_pods::{delete_ignoring_missing, record_event};

const COMPONENT: &str = "node-controller";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";

/// Runs the controller until the API stops answering for good; checks every `grace / 8`.
pub async fn run(client: Client, grace: Duration) -> Result<(), crate::Error> {
    let period = (grace / 8).clamp(Duration::from_millis(200), Duration::from_secs(5));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        // An API error is transient: the next tick looks again.
        if let Err(e) = check(&client, grace).await {
            eprintln!("tug controllers: node lifecycle: {e}");
        }
    }
}

/// When the node last showed life: its Lease's renewTime, else its Ready heartbeat,
/// else its creation.
fn last_heartbeat(node: &Node, lease: Option<&Lease>) -> Option<Timestamp> {
    let renewed = lease.and_then(|l| l.spec.as_ref()?.renew_time.as_ref()).map(|t| t.0);
    let heartbeat = ready_condition(node).and_then(|c| c.last_heartbeat_time.as_ref()).map(|t| t.0);
    let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
    renewed.into_iter().chain(heartbeat).chain(created).max()
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

async fn check(client: &Client, grace: Duration) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let leases: HashMap<String, Lease> = leases.list(&ListParams::default()).await?.items.into_iter().map(|l| (l.name_any(), l)).collect();
    let now = Timestamp::now();
    let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::from_secs(40));
    for node in nodes.list(&ListParams::default()).await?.items {
        let name = node.name_any();
        let stale = last_heartbeat(&node, leases.get(&name)).is_none_or(|t| now.duration_since(t) > grace);
        let node = if stale && ready_condition(&node).is_none_or(|c| c.status != "Unknown") {
            mark_unknown(&nodes, &node, now).await?
        } else {
            node
        };
        let ready = ready_condition(&node).map_or("Unknown", |c| c.status.as_str());
        let node = set_taints(&nodes, &node, ready, now).await?;
        evict(client, &node, now).await?;
    }
    Ok(())
}

/// Every condition of the node becomes Unknown, as when kubelet stops posting status.
async fn mark_unknown(nodes: &Api<Node>, node: &Node, now: Timestamp) -> Result<Node, kube::Error> {
    let mut conditions: Vec<NodeCondition> = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    if !conditions.iter().any(|c| c.type_ == "Ready") {
        conditions.push(NodeCondition { type_: "Ready".into(), ..Default::default() });
    }
    for c in &mut conditions {
        c.status = "Unknown".into();
        c.reason = Some("NodeStatusUnknown".into());
        c.message = Some("Kubelet stopped posting node status.".into());
        c.last_transition_time = Some(Time(now));
    }
    let patch = json!({"status": {"conditions": conditions}});
    let updated = nodes.patch_status(&node.name_any(), &PatchParams::default(), &Patch::Strategic(patch)).await?;
    let client = nodes.clone().into_client();
    let message = format!("Node {} status is now: NodeNotReady", node.name_any());
    record_event(&client, COMPONENT, node, "Normal", "NodeNotReady", &message).await;
    Ok(updated)
}

/// The unreachable/not-ready taints the node's Ready status calls for, others kept.
async fn set_taints(nodes: &Api<Node>, node: &Node, ready: &str, now: Timestamp) -> Result<Node, kube::Error> {
    let current = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let wanted_key = match ready {
        "True" => None,
        "False" => Some(NOT_READY),
        _ => Some(UNREACHABLE),
    };
    let mut taints: Vec<Taint> = current.iter().filter(|t| (t.key != UNREACHABLE && t.key != NOT_READY) || Some(t.key.as_str()) == wanted_key).cloned().collect();
    if let Some(key) = wanted_key {
        for effect in ["NoSchedule", "NoExecute"] {
            if !taints.iter().any(|t| t.key == key && t.effect == effect) {
                let added = (effect == "NoExecute").then_some(Time(now));
                taints.push(Taint { key: key.into(), effect: effect.into(), time_added: added, value: None });
            }
        }
    }
    if taints == current {
        return Ok(node.clone());
    }
    let mut updated = node.clone();
    updated.spec.get_or_insert_with(Default::default).taints = if taints.is_empty() { None } else { Some(taints) };
    match nodes.replace(&node.name_any(), &PostParams::default(), &updated).await {
        Ok(node) => Ok(node),
        // The agent wrote meanwhile: the next tick decides from the new version.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(node.clone()),
        Err(e) => Err(e),
    }
}

/// When a pod must leave a node with these NoExecute taints: now, later, or never.
fn eviction_time(pod: &Pod, taints: &[&Taint], now: Timestamp) -> Option<Timestamp> {
    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
    let mut at: Option<Timestamp> = None;
    for taint in taints {
        let matching: Vec<_> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(now);
        }
        // Tolerated for the shortest of the matching tolerationSeconds (none: forever).
        let Some(seconds) = matching.iter().filter_map(|t| t.toleration_seconds).min() else { continue };
        let since = taint.time_added.as_ref().map_or(now, |t| t.0);
        let due = since + SignedDuration::from_secs(seconds.max(0));
        at = Some(at.map_or(due, |a: Timestamp| a.min(due)));
    }
    at
}

async fn evict(client: &Client, node: &Node, now: Timestamp) -> Result<(), kube::Error> {
    let taints: Vec<&Taint> = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default().iter().filter(|t| t.effect == "NoExecute").collect();
    if taints.is_empty() {
        return Ok(());
    }
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods.list(&ListParams::default().fields(&format!("spec.nodeName={}", node.name_any()))).await?.items;
    for pod in on_node.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        if eviction_time(pod, &taints, now).is_some_and(|at| at <= now) {
            let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
            let message = format!("Marking for deletion Pod {}/{}", pod.namespace().unwrap_or_default(), pod.name_any());
            record_event(client, "taint-eviction-controller", pod, "Normal", "TaintManagerEviction", &message).await;
            delete_ignoring_missing(&api, &pod.name_any(), &DeleteParams::default()).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_leave_after_the_shortest_matching_toleration() {
        let now: Timestamp = "2026-11-27T03:00:00Z".parse().unwrap();
        let taint: Taint = serde_json::from_value(json!({"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2026-11-27T02:59:50Z"})).unwrap();
        let pod = |tolerations: serde_json::Value| -> Pod { serde_json::from_value(json!({"spec": {"containers": [], "tolerations": tolerations}})).unwrap() };
        assert_eq!(eviction_time(&pod(json!([])), &[&taint], now), Some(now));
        let later = pod(json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                               {"operator": "Exists", "tolerationSeconds": 30}]));
        assert_eq!(eviction_time(&later, &[&taint], now).unwrap().to_string(), "2026-11-27T03:00:20Z");
        let forever = pod(json!([{"key": UNREACHABLE, "operator": "Exists"}]));
        assert_eq!(eviction_time(&forever, &[&taint], now), None);
    }
}
