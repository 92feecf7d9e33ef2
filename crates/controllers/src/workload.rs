//! What the ReplicaSet and Deployment controllers add to [`crate::owned_pods`]: when a pod
//! became available (`minReadySeconds`), adopting and releasing through controller
//! ownerReferences, selectors that may select, and the order in which surplus pods are
//! deleted. Pure functions over the objects; the API calls stay in the controllers.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;

use crate::owned_pods;

/// When the pod's Ready condition turned True, if it is True.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions.iter().find(|c| c.type_ == "Ready")?;
    (ready.status == "True").then(|| {
        ready
            .last_transition_time
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
    })
}

/// The pod has been Ready for `min_ready_seconds` at `now`; else how long until it will
/// have been (None when it is not Ready at all).
pub fn availability(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Option<Result<(), u64>> {
    let since = ready_since(pod)?;
    let left = since.as_second() + i64::from(min_ready_seconds) - now.as_second();
    Some(if min_ready_seconds <= 0 || left <= 0 {
        Ok(())
    } else {
        Err(left.unsigned_abs())
    })
}

/// The controller ownerReference of an object, if it has one.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// The ownerReferences with `owner`'s controller reference added (adoption).
pub fn adopted<K: Resource<DynamicType = ()>>(meta: &ObjectMeta, owner: &K) -> Vec<OwnerReference> {
    let mut refs = meta.owner_references.clone().unwrap_or_default();
    refs.push(owned_pods::controller_ref(owner));
    refs
}

/// The ownerReferences without `owner`'s (release).
pub fn released<K: Resource>(meta: &ObjectMeta, owner: &K) -> Vec<OwnerReference> {
    let uid = owner.meta().uid.clone().unwrap_or_default();
    meta.owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != uid)
        .cloned()
        .collect()
}

/// A selector that selects something: not missing or empty (those are refused by
/// validation; one that slipped in is left alone rather than made to own everything).
pub fn selects(selector: Option<&LabelSelector>) -> Option<&LabelSelector> {
    selector.filter(|s| s.match_labels.as_ref().is_some_and(|m| !m.is_empty()) || s.match_expressions.as_ref().is_some_and(|e| !e.is_empty()))
}

/// `selector` matches the labels in `meta`.
pub fn matches(selector: &LabelSelector, meta: &ObjectMeta) -> bool {
    owned_pods::selector_matches(selector, meta.labels.as_ref().unwrap_or(&BTreeMap::new()))
}

/// Kubernetes' order for deleting surplus pods: the first pod is the one to delete first
/// (unscheduled before scheduled; Pending, then Unknown, then Running; not ready before
/// ready; ready for less time first; more restarts first; newest first).
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let scheduled = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some_and(|n| !n.is_empty());
    let phase_rank = |p: &Pod| match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        Some(_) => 3,
    };
    let restarts = |p: &Pod| -> i32 {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map_or(0, |cs| cs.iter().map(|c| c.restart_count).sum())
    };
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    scheduled(a)
        .cmp(&scheduled(b))
        .then(phase_rank(a).cmp(&phase_rank(b)))
        .then(ready_since(a).is_some().cmp(&ready_since(b).is_some()))
        .then(ready_since(b).cmp(&ready_since(a)))
        .then(restarts(b).cmp(&restarts(a)))
        .then(created(b).cmp(&created(a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn surplus_pods_go_unscheduled_then_not_ready_then_newest() {
        let ready = |name: &str, created: &str| {
            pod(json!({"metadata": {"name": name, "creationTimestamp": created},
                "spec": {"nodeName": "n", "containers": []},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}))
        };
        let unready = pod(json!({"metadata": {"name": "unready"}, "spec": {"nodeName": "n", "containers": []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}}));
        let unscheduled = pod(json!({"metadata": {"name": "unscheduled"}, "spec": {"containers": []}}));
        let mut pods = [
            ready("old", "2026-01-01T00:00:00Z"),
            ready("new", "2026-01-02T00:00:00Z"),
            unready,
            unscheduled,
        ];
        pods.sort_by(deletion_order);
        let names: Vec<_> = pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["unscheduled", "unready", "new", "old"]);
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let p = pod(json!({"metadata": {}, "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}));
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(availability(&p, 10, at("2026-01-01T00:00:04Z")), Some(Err(6)));
        assert_eq!(availability(&p, 10, at("2026-01-01T00:00:10Z")), Some(Ok(())));
        assert_eq!(availability(&p, 0, at("2026-01-01T00:00:00Z")), Some(Ok(())));
        let not_ready = pod(json!({"metadata": {}}));
        assert_eq!(availability(&not_ready, 0, at("2026-01-01T00:00:00Z")), None);
    }
}
