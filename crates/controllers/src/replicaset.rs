//! The ReplicaSet controller: keeps exactly `spec.replicas` active pods matching each
//! ReplicaSet's selector. It creates pods from the template (owned with `controller: true`),
//! deletes the surplus in Kubernetes' order ([`workload::deletion_order`]), adopts orphans
//! its selector matches, releases pods whose labels stop matching, and writes `status`
//! (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas after
//! `minReadySeconds`, observedGeneration, the ReplicaFailure condition).
//!
//! Pods are read from a shared cache; [`Expectations`] remembers the creates and deletes
//! not yet seen there, so a reconcile never acts twice on a stale view.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::owned_pods;
use crate::reconciler::{self, ReconcileError};
use crate::workload;

/// Who the controller's Events come from.
const COMPONENT: &str = "replicaset-controller";
/// At most this many pods are created or deleted per reconcile (kube's burst).
const BURST: usize = 500;
/// A set whose pods could not all be created is looked at again after this long.
const FAILED_CREATE_RETRY: Duration = Duration::from_secs(5);
/// Creates and deletes not seen in the cache after this long are forgotten.
const EXPECTATION_TTL: Duration = Duration::from_secs(60);

/// When the writes were made, the pods created, the pods deleted.
type Pending = (Instant, Vec<String>, Vec<String>);

/// The pod creates and deletes of each ReplicaSet that the cache has not shown yet.
#[derive(Default)]
pub struct Expectations {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    fn expect(&self, key: &str, created: Vec<String>, deleted: Vec<String>) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(key.into(), (Instant::now(), created, deleted));
        }
    }

    /// The cache shows every create and delete made for `key` (or they expired).
    fn satisfied(&self, key: &str, pods: &Store<Pod>, namespace: &str) -> bool {
        let Ok(mut pending) = self.pending.lock() else {
            return true;
        };
        let Some((at, created, deleted)) = pending.get(key) else {
            return true;
        };
        let seen = |name: &String| pods.get(&ObjectRef::new(name).within(namespace));
        let done = at.elapsed() > EXPECTATION_TTL
            || (created.iter().all(|n| seen(n).is_some())
                && deleted.iter().all(|n| seen(n).is_none_or(|p| p.metadata.deletion_timestamp.is_some())));
        if done {
            pending.remove(key);
        }
        done
    }
}

struct Ctx {
    client: Client,
    pods: Store<Pod>,
    expectations: Expectations,
}

/// Runs the controller until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let (pods, pod_writer) = reflector::store();
    let pod_events = watcher::watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(pod_writer)
        .touched_objects();
    let controller = Controller::new(Api::<ReplicaSet>::all(client.clone()), watcher::Config::default());
    let sets = controller.store();
    let controller = controller.watches_stream(pod_events, move |pod: Pod| owners_of(&sets, &pod));
    let ctx = Arc::new(Ctx {
        client,
        pods,
        expectations: Expectations::default(),
    });
    reconciler::run("replicaset", controller, move |rs, _| reconcile(ctx.clone(), rs)).await
}

/// The ReplicaSets a pod event concerns: its controller, or, for an orphan, every set in
/// its namespace whose selector matches it.
fn owners_of(sets: &Store<ReplicaSet>, pod: &Pod) -> Vec<ObjectRef<ReplicaSet>> {
    let namespace = pod.namespace().unwrap_or_default();
    if let Some(owner) = workload::controller_of(&pod.metadata) {
        return if owner.kind == "ReplicaSet" {
            vec![ObjectRef::new(&owner.name).within(&namespace)]
        } else {
            vec![]
        };
    }
    sets.state()
        .iter()
        .filter(|rs| rs.namespace().as_deref() == Some(&namespace))
        .filter(|rs| {
            workload::selects(rs.spec.as_ref().map(|s| &s.selector))
                .is_some_and(|sel| workload::matches(sel, &pod.metadata))
        })
        .map(|rs| ObjectRef::from_obj(rs.as_ref()))
        .collect()
}

async fn reconcile(ctx: Arc<Ctx>, rs: Arc<ReplicaSet>) -> Result<Action, ReconcileError> {
    let namespace = rs.namespace().unwrap_or_default();
    let key = format!("{namespace}/{}", rs.name_any());
    if !ctx.expectations.satisfied(&key, &ctx.pods, &namespace) {
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    let spec = rs.spec.clone().unwrap_or_default();
    // A selector that selects nothing or everything is refused by validation; one that
    // slipped in (stored before validation, say) is left alone rather than crash-looped on.
    let Some(selector) = workload::selects(Some(&spec.selector)).cloned() else {
        return Ok(Action::await_change());
    };
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let deleting = rs.metadata.deletion_timestamp.is_some();

    // Claim: adopt matching orphans, release owned pods that stopped matching.
    let mut owned = Vec::new();
    for pod in ctx.pods.state() {
        if pod.namespace().as_deref() != Some(&namespace) {
            continue;
        }
        let matching = workload::matches(&selector, &pod.metadata);
        let ours = owned_pods::controlled_by(pod.as_ref(), rs.metadata.uid.as_deref().unwrap_or_default());
        match (ours, matching) {
            (true, true) => owned.push(pod),
            (true, false) => {
                set_owners(&pod_api, &pod.metadata, workload::released(&pod.metadata, rs.as_ref())).await?;
            }
            (false, true)
                if !deleting
                    && workload::controller_of(&pod.metadata).is_none()
                    && pod.metadata.deletion_timestamp.is_none() =>
            {
                let refs = workload::adopted(&pod.metadata, rs.as_ref());
                if set_owners(&pod_api, &pod.metadata, refs).await? {
                    owned.push(pod);
                }
            }
            (false, _) => {}
        }
    }
    let active: Vec<Arc<Pod>> = owned.iter().filter(|p| owned_pods::is_active(p)).cloned().collect();

    let mut failure = None;
    if !deleting {
        let want = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
        if active.len() < want {
            failure = create_pods(&ctx, &rs, &key, want - active.len()).await?;
        } else if active.len() > want {
            let mut surplus = active.clone();
            surplus.sort_by(|a, b| workload::deletion_order(a, b));
            surplus.truncate((active.len() - want).min(BURST));
            delete_pods(&ctx, &rs, &key, &pod_api, &surplus).await?;
        }
    }
    write_status(&ctx, &rs, &active, failure).await
}

/// Sets a pod's ownerReferences if it has not changed since it was read; false if it had.
async fn set_owners(api: &Api<Pod>, meta: &ObjectMeta, refs: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>) -> Result<bool, kube::Error> {
    let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": meta.resource_version, "uid": meta.uid}});
    match api
        .patch(&meta.name.clone().unwrap_or_default(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates `count` pods from the template; the error of the first create that failed.
async fn create_pods(ctx: &Ctx, rs: &ReplicaSet, key: &str, count: usize) -> Result<Option<String>, kube::Error> {
    let owner = owned_pods::controller_ref(rs);
    let template = rs.spec.as_ref().and_then(|s| s.template.clone()).unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", rs.name_any())),
            labels: template_meta.labels,
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    };
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    let mut created = Vec::new();
    let mut failure = None;
    // Slow start, as kube does: 1, 2, 4, … at a time, stopping at the first failure.
    let mut batch = 1;
    let mut left = count.min(BURST);
    while left > 0 && failure.is_none() {
        let n = batch.min(left);
        let params = PostParams::default();
        let results = futures_util::future::join_all((0..n).map(|_| api.create(&params, &pod))).await;
        for result in results {
            match result {
                Ok(p) => {
                    let name = p.name_any();
                    owned_pods::record_event(&ctx.client, COMPONENT, rs, "Normal", "SuccessfulCreate", &format!("Created pod: {name}")).await;
                    created.push(name);
                }
                Err(e) => {
                    let message = match &e {
                        kube::Error::Api(s) => s.message.clone(),
                        other => other.to_string(),
                    };
                    owned_pods::record_event(&ctx.client, COMPONENT, rs, "Warning", "FailedCreate", &format!("Error creating: {message}")).await;
                    failure.get_or_insert(message);
                }
            }
        }
        left -= n;
        batch *= 2;
    }
    ctx.expectations.expect(key, created, vec![]);
    Ok(failure)
}

async fn delete_pods(ctx: &Ctx, rs: &ReplicaSet, key: &str, api: &Api<Pod>, pods: &[Arc<Pod>]) -> Result<(), kube::Error> {
    let names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    ctx.expectations.expect(key, vec![], names.clone());
    let params = DeleteParams::default();
    let results = futures_util::future::join_all(names.iter().map(|n| api.delete(n, &params))).await;
    for (name, result) in names.iter().zip(results) {
        match result {
            Ok(_) => owned_pods::record_event(&ctx.client, COMPONENT, rs, "Normal", "SuccessfulDelete", &format!("Deleted pod: {name}")).await,
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn write_status(ctx: &Ctx, rs: &ReplicaSet, active: &[Arc<Pod>], failure: Option<String>) -> Result<Action, ReconcileError> {
    let spec = rs.spec.clone().unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let template_labels = spec.template.as_ref().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.clone()).unwrap_or_default();
    let now = Timestamp::now();
    let mut recheck: Option<u64> = None;
    let mut ready = 0;
    let mut available = 0;
    for pod in active {
        match workload::availability(pod, min_ready, now) {
            Some(Ok(())) => {
                ready += 1;
                available += 1;
            }
            Some(Err(left)) => {
                ready += 1;
                recheck = Some(recheck.map_or(left, |r| r.min(left)));
            }
            None => {}
        }
    }
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            template_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .count();
    let old = rs.status.clone().unwrap_or_default();
    let mut conditions: Vec<ReplicaSetCondition> = old
        .conditions
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != "ReplicaFailure")
        .collect();
    let failed = failure.is_some();
    if let Some(message) = failure {
        let previous = old.conditions.iter().flatten().find(|c| c.type_ == "ReplicaFailure");
        conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some("FailedCreate".into()),
            message: Some(message),
            last_transition_time: previous.and_then(|c| c.last_transition_time.clone()).or(Some(Time(now))),
        });
    }
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let status = ReplicaSetStatus {
        replicas: count(active.len()),
        fully_labeled_replicas: Some(count(fully_labeled)),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: old.terminating_replicas,
    };
    if rs.status.as_ref() != Some(&status) {
        let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
        let mut patch = json!({"status": status});
        // A merge patch removes only what it names: clear conditions that went away.
        patch["status"]["conditions"] = serde_json::to_value(&status.conditions).unwrap_or_default();
        match api.patch_status(&rs.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(match recheck {
        // Creates that failed (quota, admission) are tried again, as kube's back-off does.
        _ if failed => Action::requeue(FAILED_CREATE_RETRY),
        Some(seconds) => Action::requeue(Duration::from_secs(seconds)),
        None => Action::await_change(),
    })
}
