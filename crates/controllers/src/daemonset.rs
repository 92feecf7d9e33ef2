//! DaemonSets: one pod on every node the template may run on (its nodeSelector and
//! required node affinity, and taints it tolerates — with the tolerations Kubernetes adds
//! to daemon pods), none elsewhere. Each pod is pinned to its node by node affinity on
//! `metadata.name`, as kube-controller-manager does, and placed by the scheduler.
//! Template changes make a new ControllerRevision; RollingUpdate replaces old pods while
//! at most `maxUnavailable` are unavailable, OnDelete leaves it to the user. Nodes
//! appearing, changing or going wake every DaemonSet.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, NodeSelector, Pod, PodTemplateSpec, Toleration};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::node_match::{selector_matches, untolerated};
use crate::owned_pods::{controlled_by, controller_ref, delete_ignoring_missing, is_active, is_ready, is_terminal, record_event, selector_query};
use crate::reconciler::{self, ReconcileError};
use crate::revisions::{self, REVISION_LABEL};

const COMPONENT: &str = "daemonset-controller";
const RESYNC: Duration = Duration::from_secs(30);

/// Runs the controller until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let node_changes = watcher::watcher(Api::<Node>::all(client.clone()), watcher::Config::default()).filter_map(|e| async move { e.ok().map(|_| ()) });
    let controller = Controller::new(Api::<DaemonSet>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .reconcile_all_on(node_changes);
    reconciler::run("daemonset", controller, move |set, _| reconcile(client.clone(), set)).await
}

/// The tolerations every daemon pod gets (kube's `AddOrUpdateDaemonPodTolerations`).
fn daemon_tolerations(template: &PodTemplateSpec) -> Vec<Toleration> {
    let mut tolerations = template.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
    let added = [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    for (key, effect) in added {
        if !tolerations.iter().any(|t| t.key.as_deref() == Some(key) && t.effect.as_deref() == Some(effect)) {
            tolerations.push(Toleration { key: Some(key.into()), operator: Some("Exists".into()), effect: Some(effect.into()), ..Default::default() });
        }
    }
    tolerations
}

/// Whether a daemon pod belongs on `node`.
fn should_run(template: &PodTemplateSpec, tolerations: &[Toleration], node: &Node) -> bool {
    let spec = template.spec.as_ref();
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selector_ok = spec.and_then(|s| s.node_selector.as_ref()).is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let required = spec.and_then(|s| s.affinity.as_ref()).and_then(|a| a.node_affinity.as_ref()).and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
    selector_ok && required.is_none_or(|r| selector_matches(r, node)) && untolerated(node, tolerations, &["NoSchedule", "NoExecute"]).is_empty()
}

/// The node a daemon pod is for: its `nodeName`, or the name its affinity pins it to.
fn node_of(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(node) = spec.node_name.clone().filter(|n| !n.is_empty()) {
        return Some(node);
    }
    let terms = &spec.affinity.as_ref()?.node_affinity.as_ref()?.required_during_scheduling_ignored_during_execution.as_ref()?.node_selector_terms;
    let field = terms.iter().flat_map(|t| t.match_fields.iter().flatten()).find(|f| f.key == "metadata.name" && f.operator == "In")?;
    field.values.as_ref()?.first().cloned()
}

fn pod_for(set: &DaemonSet, revision: &str, tolerations: &[Toleration], node: &str) -> Pod {
    let template = set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(REVISION_LABEL.into(), revision.into());
    let mut spec = template.spec.unwrap_or_default();
    spec.tolerations = Some(tolerations.to_vec());
    let pin: NodeSelector = serde_json::from_value(json!({"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]})).unwrap_or_default();
    let affinity = spec.affinity.get_or_insert_with(Default::default);
    affinity.node_affinity.get_or_insert_with(Default::default).required_during_scheduling_ignored_during_execution = Some(pin);
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", set.name_any())),
            labels: Some(labels),
            annotations: meta.annotations,
            owner_references: Some(vec![controller_ref(set)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// `maxUnavailable` as a number of nodes (percentages round down, at least one).
fn max_unavailable(set: &DaemonSet, desired: usize) -> usize {
    let value = set.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.rolling_update.as_ref()).and_then(|r| r.max_unavailable.clone());
    let n = match value {
        Some(IntOrString::Int(n)) => usize::try_from(n).unwrap_or(0),
        Some(IntOrString::String(p)) => p.trim_end_matches('%').parse::<usize>().map_or(1, |p| desired * p / 100),
        None => 1,
    };
    n.max(1)
}

async fn reconcile(client: Client, set: Arc<DaemonSet>) -> Result<Action, ReconcileError> {
    let (Some(spec), Some(uid)) = (set.spec.as_ref(), set.metadata.uid.as_deref()) else {
        return Ok(Action::await_change());
    };
    if set.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = set.namespace().unwrap_or_default();
    let name = set.name_any();
    let selector = selector_query(&spec.selector);
    let revision_api: Api<ControllerRevision> = Api::namespaced(client.clone(), &ns);
    let mut history = revisions::list(&revision_api, set.as_ref(), &selector).await?;
    let update_revision = revisions::ensure(&revision_api, set.as_ref(), &spec.template, &mut history).await?;
    let tolerations = daemon_tolerations(&spec.template);

    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let mut by_node: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for pod in pods_api.list(&ListParams::default().labels(&selector)).await?.items {
        if controlled_by(&pod, uid) {
            by_node.entry(node_of(&pod).unwrap_or_default()).or_default().push(pod);
        }
    }
    let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await?.items;
    let event = |reason: &'static str, message: String| {
        let client = client.clone();
        let set = set.clone();
        async move { record_event(&client, COMPONENT, set.as_ref(), "Normal", reason, &message).await }
    };

    let (mut desired, mut scheduled, mut ready, mut updated, mut misscheduled) = (0, 0, 0, 0, 0);
    let mut unavailable = 0;
    let mut outdated: Vec<Pod> = Vec::new();
    for node in &nodes {
        let node_name = node.name_any();
        let pods = by_node.remove(&node_name).unwrap_or_default();
        let (live, finished): (Vec<Pod>, Vec<Pod>) = pods.into_iter().partition(is_active);
        for pod in finished.iter().filter(|p| is_terminal(p) && p.metadata.deletion_timestamp.is_none()) {
            delete_ignoring_missing(&pods_api, &pod.name_any(), &DeleteParams::default()).await?;
            event("SuccessfulDelete", format!("Deleted pod: {}", pod.name_any())).await;
        }
        if !should_run(&spec.template, &tolerations, node) {
            misscheduled += usize::from(!live.is_empty());
            for pod in &live {
                delete_ignoring_missing(&pods_api, &pod.name_any(), &DeleteParams::default()).await?;
                event("SuccessfulDelete", format!("Deleted pod: {}", pod.name_any())).await;
            }
            continue;
        }
        desired += 1;
        match live.as_slice() {
            [] => {
                let pod = pods_api.create(&PostParams::default(), &pod_for(&set, &update_revision, &tolerations, &node_name)).await?;
                event("SuccessfulCreate", format!("Created pod: {}", pod.name_any())).await;
                unavailable += 1;
            }
            [pod, extra @ ..] => {
                scheduled += 1;
                for extra in extra {
                    delete_ignoring_missing(&pods_api, &extra.name_any(), &DeleteParams::default()).await?;
                    event("SuccessfulDelete", format!("Deleted pod: {}", extra.name_any())).await;
                }
                if is_ready(pod) {
                    ready += 1;
                } else {
                    unavailable += 1;
                }
                if pod.labels().get(REVISION_LABEL) == Some(&update_revision) {
                    updated += 1;
                } else {
                    outdated.push(pod.clone());
                }
            }
        }
    }
    // Pods for nodes that are gone.
    for pod in by_node.into_values().flatten().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        delete_ignoring_missing(&pods_api, &pod.name_any(), &DeleteParams::default()).await?;
    }
    let rolling = spec.update_strategy.as_ref().and_then(|u| u.type_.as_deref()) != Some("OnDelete");
    if rolling {
        // Not-ready old pods first: replacing them costs no availability.
        outdated.sort_by_key(is_ready);
        let budget = max_unavailable(&set, desired);
        for pod in outdated {
            let was_ready = is_ready(&pod);
            if was_ready && unavailable >= budget {
                break;
            }
            delete_ignoring_missing(&pods_api, &pod.name_any(), &DeleteParams::default()).await?;
            event("SuccessfulDelete", format!("Deleted pod: {}", pod.name_any())).await;
            unavailable += usize::from(was_ready);
        }
    }
    let status = json!({
        "observedGeneration": set.metadata.generation,
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": scheduled,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "numberAvailable": ready,
        "numberUnavailable": desired - ready,
        "updatedNumberScheduled": updated,
    });
    let old = serde_json::to_value(set.status.clone().unwrap_or_default()).unwrap_or_default();
    if status.as_object().is_some_and(|m| m.iter().any(|(k, v)| old.get(k).unwrap_or(&json!(0)) != v)) {
        let api: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
    }
    let keep: Vec<&str> = vec![update_revision.as_str()];
    revisions::prune(&revision_api, &history, spec.revision_history_limit.unwrap_or(10), &keep).await?;
    Ok(Action::requeue(RESYNC))
}
