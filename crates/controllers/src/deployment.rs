//! The Deployment controller: one ReplicaSet per pod template (named and labelled with the
//! template's `pod-template-hash`), rolled from old to new with RollingUpdate (within
//! `maxSurge`/`maxUnavailable`) or Recreate; revisions in the
//! `deployment.kubernetes.io/revision` annotations (a rollback is a template change that
//! matches an old set, which then gets the next revision); `revisionHistoryLimit`;
//! pause/resume; proportional scaling when resized mid-rollout; `status` with the
//! Progressing (`progressDeadlineSeconds`) and Available conditions and their Kubernetes
//! reasons; `ScalingReplicaSet` events. The arithmetic is in [`crate::rollout`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::owned_pods;
use crate::reconciler::{self, ReconcileError};
use crate::rollout::{self, Set};
use crate::workload;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const TEMPLATE_HASH: &str = "pod-template-hash";
const DEFAULT_DEADLINE: i32 = 600;
/// Who the controller's Events come from.
const COMPONENT: &str = "deployment-controller";

struct Ctx {
    client: Client,
    sets: Store<ReplicaSet>,
    /// The resourceVersion of each ReplicaSet this controller last wrote: a cache older
    /// than that is not acted on.
    written: Mutex<HashMap<String, u64>>,
}

/// Runs the controller until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let (sets, set_writer) = reflector::store();
    let set_events = watcher::watcher(Api::<ReplicaSet>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(set_writer)
        .touched_objects();
    let controller = Controller::new(Api::<Deployment>::all(client.clone()), watcher::Config::default());
    let deployments = controller.store();
    let controller = controller.watches_stream(set_events, move |rs: ReplicaSet| owners_of(&deployments, &rs));
    let ctx = Arc::new(Ctx {
        client,
        sets,
        written: Mutex::default(),
    });
    reconciler::run("deployment", controller, move |d, _| reconcile(ctx.clone(), d)).await
}

fn owners_of(deployments: &Store<Deployment>, rs: &ReplicaSet) -> Vec<ObjectRef<Deployment>> {
    let namespace = rs.namespace().unwrap_or_default();
    if let Some(owner) = workload::controller_of(&rs.metadata) {
        return if owner.kind == "Deployment" {
            vec![ObjectRef::new(&owner.name).within(&namespace)]
        } else {
            vec![]
        };
    }
    deployments
        .state()
        .iter()
        .filter(|d| d.namespace().as_deref() == Some(&namespace))
        .filter(|d| workload::selects(d.spec.as_ref().map(|s| &s.selector)).is_some_and(|s| workload::matches(s, &rs.metadata)))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn key(rs: &ReplicaSet) -> String {
    format!("{}/{}", rs.namespace().unwrap_or_default(), rs.name_any())
}

fn rv(meta: &ObjectMeta) -> u64 {
    meta.resource_version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn available(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations().get(REVISION).and_then(|r| r.parse().ok()).unwrap_or(0)
}

fn as_set(rs: &ReplicaSet) -> Set {
    Set {
        replicas: replicas(rs),
        available: available(rs),
        max_replicas: rs.annotations().get(MAX_REPLICAS).and_then(|v| v.parse().ok()),
    }
}

/// The template without the `pod-template-hash` label, for comparing and hashing.
fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(TEMPLATE_HASH);
    }
    t
}

/// A malformed spec, reported as a condition rather than crash-looped on.
struct Invalid(String);

async fn reconcile(ctx: Arc<Ctx>, d: Arc<Deployment>) -> Result<Action, ReconcileError> {
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let spec = d.spec.clone().unwrap_or_default();
    let Some(selector) = workload::selects(Some(&spec.selector)).cloned() else {
        return Ok(Action::await_change());
    };
    let namespace = d.namespace().unwrap_or_default();
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);

    // Claim the ReplicaSets; wait for the cache to show this controller's own writes.
    let mut sets = Vec::new();
    for rs in ctx.sets.state() {
        if rs.namespace().as_deref() != Some(&namespace) {
            continue;
        }
        let written = ctx.written.lock().ok().and_then(|w| w.get(&key(&rs)).copied());
        let ours = owned_pods::controlled_by(rs.as_ref(), d.metadata.uid.as_deref().unwrap_or_default());
        let matching = workload::matches(&selector, &rs.metadata);
        if ours && written.is_some_and(|w| rv(&rs.metadata) < w) {
            return Ok(Action::requeue(Duration::from_millis(100)));
        }
        match (ours, matching) {
            (true, true) => sets.push(rs),
            (true, false) => {
                let refs = workload::released(&rs.metadata, d.as_ref());
                patch_set(&ctx, &rs_api, &rs, json!({"metadata": {"ownerReferences": refs}})).await?;
            }
            (false, true) if workload::controller_of(&rs.metadata).is_none() && rs.metadata.deletion_timestamp.is_none() => {
                let refs = workload::adopted(&rs.metadata, d.as_ref());
                patch_set(&ctx, &rs_api, &rs, json!({"metadata": {"ownerReferences": refs, "uid": rs.metadata.uid}})).await?;
                return Ok(Action::requeue(Duration::from_millis(100)));
            }
            (false, _) => {}
        }
    }
    sets.sort_by_key(|rs| (rs.metadata.creation_timestamp.as_ref().map(|t| t.0), rs.name_any()));

    let want = spec.replicas.unwrap_or(1);
    let strategy = spec.strategy.clone().unwrap_or_default();
    let recreate = strategy.type_.as_deref() == Some("Recreate");
    let rolling = strategy.rolling_update.clone().unwrap_or_default();
    let (surge, unavailable) = if recreate {
        (0, 0)
    } else {
        match rollout::surge_and_unavailable(rolling.max_surge.as_ref(), rolling.max_unavailable.as_ref(), want) {
            Ok(v) => v,
            Err(message) => return invalid(&ctx, &d, Invalid(format!("spec.strategy.rollingUpdate: {message}"))).await,
        }
    };
    let template = without_hash(&spec.template);
    let (new, old): (Vec<_>, Vec<_>) = sets.into_iter().partition(|rs| {
        rs.spec.as_ref().and_then(|s| s.template.as_ref()).map(without_hash).as_ref() == Some(&template)
    });
    let mut new = new.into_iter().next();
    let old: Vec<Arc<ReplicaSet>> = old;
    let paused = spec.paused.unwrap_or(false);
    let max_old_revision = old.iter().map(|rs| revision(rs)).max().unwrap_or(0);
    let mut created = None;

    // A resize while several sets have pods: every set keeps its share.
    let active: Vec<&Arc<ReplicaSet>> = new.iter().chain(old.iter()).filter(|rs| replicas(rs) > 0).collect();
    let resized = active.iter().any(|rs| rs.annotations().get(DESIRED_REPLICAS).and_then(|v| v.parse::<i32>().ok()) != Some(want));
    if (paused || resized) && scale_proportionally(&ctx, &d, &rs_api, new.as_deref(), &old, want, surge).await? {
        return Ok(Action::requeue(Duration::from_millis(100)));
    }

    if !paused {
        // The new ReplicaSet: found (and given the next revision) or made.
        match &new {
            Some(rs) => {
                let mut patch = json!({});
                if revision(rs) <= max_old_revision {
                    patch["metadata"]["annotations"][REVISION] = json!((max_old_revision + 1).to_string());
                    let mut history: Vec<String> = rs.annotations().get(REVISION_HISTORY).map(|h| h.split(',').map(str::to_string).collect()).unwrap_or_default();
                    if revision(rs) > 0 {
                        history.push(revision(rs).to_string());
                        patch["metadata"]["annotations"][REVISION_HISTORY] = json!(history.join(","));
                    }
                }
                if rs.spec.as_ref().and_then(|s| s.min_ready_seconds) != spec.min_ready_seconds {
                    patch["spec"]["minReadySeconds"] = json!(spec.min_ready_seconds);
                }
                if patch != json!({}) {
                    patch_set(&ctx, &rs_api, rs, patch).await?;
                    return Ok(Action::requeue(Duration::from_millis(100)));
                }
            }
            None => {
                let all: Vec<Set> = old.iter().map(|rs| as_set(rs)).collect();
                let size = if recreate { 0 } else { rollout::new_set_size(want, surge, &Set { replicas: 0, available: 0, max_replicas: None }, &all) };
                match create_set(&ctx, &d, &rs_api, &template, size, want + surge, max_old_revision + 1).await? {
                    Some(rs) => {
                        created = Some(rs.name_any());
                        new = Some(Arc::new(rs));
                    }
                    None => return Ok(Action::requeue(Duration::from_millis(100))),
                }
            }
        }
        let Some(new_rs) = new.clone() else {
            return Ok(Action::requeue(Duration::from_millis(100)));
        };
        if revision(&new_rs).to_string() != d.annotations().get(REVISION).cloned().unwrap_or_default() {
            let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
            let patch = json!({"metadata": {"annotations": {REVISION: revision(&new_rs).to_string()}}});
            api.patch(&d.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }

        if recreate {
            let mut changed = false;
            for rs in &old {
                changed |= scale(&ctx, &d, &rs_api, rs, 0, want, 0).await?;
            }
            let old_pods: i32 = old.iter().map(|rs| rs.status.as_ref().map_or(0, |s| s.replicas)).sum();
            if !changed && old_pods == 0 {
                scale(&ctx, &d, &rs_api, &new_rs, want, want, 0).await?;
            }
        } else {
            let all: Vec<Set> = old.iter().chain(std::iter::once(&new_rs)).map(|rs| as_set(rs)).collect();
            let size = rollout::new_set_size(want, surge, &as_set(&new_rs), &all);
            let grew = scale(&ctx, &d, &rs_api, &new_rs, size, want, surge).await?;
            if !grew {
                let olds: Vec<Set> = old.iter().map(|rs| as_set(rs)).collect();
                let sizes = rollout::old_set_sizes(want, unavailable, Some(&as_set(&new_rs)), &olds);
                for (rs, size) in old.iter().zip(sizes) {
                    scale(&ctx, &d, &rs_api, rs, size, want, surge).await?;
                }
            }
        }
        cleanup(&d, &rs_api, &old).await?;
    }
    write_status(&ctx, &d, new.as_deref(), &old, want, unavailable, created).await
}

/// Records a malformed spec on the Deployment as a ReplicaFailure-style condition.
async fn invalid(ctx: &Ctx, d: &Deployment, Invalid(message): Invalid) -> Result<Action, ReconcileError> {
    owned_pods::record_event(&ctx.client, COMPONENT, d, "Warning", "InvalidSpec", &message).await;
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
    let condition = condition("ReplicaFailure", "True", "InvalidSpec", message, None);
    let patch = json!({"status": {"observedGeneration": d.metadata.generation, "conditions": [condition]}});
    api.patch_status(&d.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(Action::await_change())
}

async fn patch_set(ctx: &Ctx, api: &Api<ReplicaSet>, rs: &ReplicaSet, patch: serde_json::Value) -> Result<(), kube::Error> {
    match api.patch(&rs.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(written) => {
            if let Ok(mut w) = ctx.written.lock() {
                w.insert(key(&written), rv(&written.metadata));
            }
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets a ReplicaSet's size (and the annotations recording the Deployment's size); true if
/// anything changed.
async fn scale(ctx: &Ctx, d: &Deployment, api: &Api<ReplicaSet>, rs: &ReplicaSet, size: i32, want: i32, surge: i32) -> Result<bool, kube::Error> {
    let desired = want.to_string();
    let max = (want + surge).to_string();
    let annotations = rs.annotations();
    if replicas(rs) == size && annotations.get(DESIRED_REPLICAS) == Some(&desired) && annotations.get(MAX_REPLICAS) == Some(&max) {
        return Ok(false);
    }
    let patch = json!({"metadata": {"annotations": {DESIRED_REPLICAS: desired, MAX_REPLICAS: max}}, "spec": {"replicas": size}});
    patch_set(ctx, api, rs, patch).await?;
    let from = replicas(rs);
    if from != size {
        let direction = if size > from { "up" } else { "down" };
        let message = format!("Scaled {direction} replica set {} from {from} to {size}", rs.name_any());
        owned_pods::record_event(&ctx.client, COMPONENT, d, "Normal", "ScalingReplicaSet", &message).await;
    }
    Ok(true)
}

/// Resizes every set with pods in proportion (or the one active set alone); true if it wrote.
async fn scale_proportionally(ctx: &Ctx, d: &Deployment, api: &Api<ReplicaSet>, new: Option<&ReplicaSet>, old: &[Arc<ReplicaSet>], want: i32, surge: i32) -> Result<bool, kube::Error> {
    let mut all: Vec<&ReplicaSet> = new.into_iter().chain(old.iter().map(|rs| rs.as_ref())).collect();
    let active: Vec<&ReplicaSet> = all.iter().copied().filter(|rs| replicas(rs) > 0).collect();
    if active.len() <= 1 {
        // One set with pods (or none: the newest) takes the whole size.
        let target = active.first().copied().or(new).or_else(|| old.last().map(|rs| rs.as_ref()));
        return match target {
            Some(rs) => scale(ctx, d, api, rs, want, want, surge).await,
            None => Ok(false),
        };
    }
    all.sort_by_key(|rs| std::cmp::Reverse((replicas(rs), rs.metadata.creation_timestamp.as_ref().map(|t| t.0))));
    let status_replicas = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let sets: Vec<Set> = all.iter().map(|rs| as_set(rs)).collect();
    let sizes = rollout::proportional_sizes(want, surge, status_replicas, &sets);
    let mut changed = false;
    for (rs, size) in all.into_iter().zip(sizes) {
        changed |= scale(ctx, d, api, rs, size, want, surge).await?;
    }
    Ok(changed)
}

/// Makes the ReplicaSet for `template`; None when its name was taken by a different
/// template (the collision count went up: the next reconcile hashes anew).
async fn create_set(ctx: &Ctx, d: &Deployment, api: &Api<ReplicaSet>, template: &PodTemplateSpec, size: i32, max: i32, revision: i64) -> Result<Option<ReplicaSet>, kube::Error> {
    let collisions = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = rollout::template_hash(&serde_json::to_string(template).unwrap_or_default(), collisions);
    let mut template = template.clone();
    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    meta.labels.get_or_insert_with(BTreeMap::new).insert(TEMPLATE_HASH.into(), hash.clone());
    let labels = meta.labels.clone();
    let spec = d.spec.clone().unwrap_or_default();
    let mut selector: LabelSelector = spec.selector.clone();
    selector.match_labels.get_or_insert_with(BTreeMap::new).insert(TEMPLATE_HASH.into(), hash.clone());
    let want = spec.replicas.unwrap_or(1);
    let mut annotations: BTreeMap<String, String> = d
        .annotations()
        .iter()
        .filter(|(k, _)| !k.starts_with("deployment.kubernetes.io/") && k.as_str() != "kubectl.kubernetes.io/last-applied-configuration")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    annotations.insert(REVISION.into(), revision.to_string());
    annotations.insert(DESIRED_REPLICAS.into(), want.to_string());
    annotations.insert(MAX_REPLICAS.into(), max.to_string());
    let name = format!("{}-{hash}", d.name_any());
    let rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels,
            annotations: Some(annotations),
            owner_references: Some(vec![owned_pods::controller_ref(d)]),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(size),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template.clone()),
        }),
        status: None,
    };
    match api.create(&PostParams::default(), &rs).await {
        Ok(created) => {
            if let Ok(mut w) = ctx.written.lock() {
                w.insert(key(&created), rv(&created.metadata));
            }
            if size > 0 {
                owned_pods::record_event(&ctx.client, COMPONENT, d, "Normal", "ScalingReplicaSet", &format!("Scaled up replica set {name} from 0 to {size}")).await;
            }
            Ok(Some(created))
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = api.get(&name).await?;
            let same = existing.spec.as_ref().and_then(|s| s.template.as_ref()) == Some(&template)
                && owned_pods::controlled_by(&existing, d.metadata.uid.as_deref().unwrap_or_default());
            if same {
                return Ok(Some(existing));
            }
            let dapi: Api<Deployment> = Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
            let patch = json!({"status": {"collisionCount": collisions.unwrap_or(0) + 1}});
            dapi.patch_status(&d.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Deletes the oldest empty old ReplicaSets beyond `revisionHistoryLimit`.
async fn cleanup(d: &Deployment, api: &Api<ReplicaSet>, old: &[Arc<ReplicaSet>]) -> Result<(), kube::Error> {
    let limit = d.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
    let mut empty: Vec<&Arc<ReplicaSet>> = old
        .iter()
        .filter(|rs| replicas(rs) == 0 && rs.status.as_ref().is_none_or(|s| s.replicas == 0) && rs.metadata.deletion_timestamp.is_none())
        .collect();
    let excess = empty.len().saturating_sub(usize::try_from(limit).unwrap_or(0));
    empty.sort_by_key(|rs| revision(rs));
    for rs in empty.into_iter().take(excess) {
        match api.delete(&rs.name_any(), &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn condition(type_: &str, status: &str, reason: &str, message: String, previous: Option<&DeploymentCondition>) -> DeploymentCondition {
    let now = Time(Timestamp::now());
    let transition = previous.filter(|p| p.status == status).and_then(|p| p.last_transition_time.clone()).unwrap_or(now.clone());
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now),
        last_transition_time: Some(transition),
    }
}

#[allow(clippy::too_many_arguments)]
async fn write_status(ctx: &Ctx, d: &Deployment, new: Option<&ReplicaSet>, old: &[Arc<ReplicaSet>], want: i32, unavailable: i32, created: Option<String>) -> Result<Action, ReconcileError> {
    let spec = d.spec.clone().unwrap_or_default();
    let all: Vec<&ReplicaSet> = new.into_iter().chain(old.iter().map(|rs| rs.as_ref())).collect();
    let sum = |f: &dyn Fn(&ReplicaSet) -> i32| all.iter().map(|rs| f(rs)).sum::<i32>();
    let status_of = |rs: &ReplicaSet| rs.status.clone().unwrap_or_default();
    let total = sum(&|rs| status_of(rs).replicas);
    let ready = sum(&|rs| status_of(rs).ready_replicas.unwrap_or(0));
    let avail = sum(&|rs| status_of(rs).available_replicas.unwrap_or(0));
    let updated = new.map_or(0, |rs| status_of(rs).replicas);
    let old_status = d.status.clone().unwrap_or_default();
    let previous = |t: &str| old_status.conditions.iter().flatten().find(|c| c.type_ == t).cloned();

    let mut conditions: Vec<DeploymentCondition> = Vec::new();
    let available_condition = if avail >= want - unavailable {
        condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.".into(), previous("Available").as_ref())
    } else {
        condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.".into(), previous("Available").as_ref())
    };
    conditions.push(keep_if_same(available_condition, previous("Available")));

    let progressing_before = previous("Progressing");
    let name = new.map(|rs| rs.name_any()).unwrap_or_default();
    let deadline = spec.progress_deadline_seconds.unwrap_or(DEFAULT_DEADLINE);
    let complete = updated == want && total == want && avail == want;
    let mut requeue = None;
    let progressing = if spec.paused.unwrap_or(false) {
        Some(condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused".into(), progressing_before.as_ref()))
    } else if progressing_before.as_ref().and_then(|c| c.reason.as_deref()) == Some("DeploymentPaused") {
        Some(condition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed".into(), progressing_before.as_ref()))
    } else if let Some(created) = created {
        Some(condition("Progressing", "True", "NewReplicaSetCreated", format!("Created new replica set \"{created}\""), progressing_before.as_ref()))
    } else if complete {
        Some(condition("Progressing", "True", "NewReplicaSetAvailable", format!("ReplicaSet \"{name}\" has successfully progressed."), progressing_before.as_ref()))
    } else if progressing_before.is_none() && new.is_some() {
        Some(condition("Progressing", "True", "FoundNewReplicaSet", format!("Found new replica set \"{name}\""), None))
    } else {
        let moved = updated > old_status.updated_replicas.unwrap_or(0)
            || ready > old_status.ready_replicas.unwrap_or(0)
            || avail > old_status.available_replicas.unwrap_or(0)
            || total - updated < old_status.replicas.unwrap_or(0) - old_status.updated_replicas.unwrap_or(0);
        let since = progressing_before.as_ref().and_then(|c| c.last_update_time.as_ref()).map(|t| t.0.as_second());
        let timed_out = since.is_some_and(|s| Timestamp::now().as_second() >= s + i64::from(deadline));
        if moved {
            requeue = Some(Duration::from_secs(deadline.max(1).unsigned_abs().into()));
            Some(condition("Progressing", "True", "ReplicaSetUpdated", format!("ReplicaSet \"{name}\" is progressing."), progressing_before.as_ref()))
        } else if timed_out {
            if progressing_before.as_ref().and_then(|c| c.reason.as_deref()) != Some("ProgressDeadlineExceeded") {
                owned_pods::record_event(&ctx.client, COMPONENT, d, "Warning", "ProgressDeadlineExceeded", &format!("ReplicaSet \"{name}\" has timed out progressing.")).await;
            }
            Some(condition("Progressing", "False", "ProgressDeadlineExceeded", format!("ReplicaSet \"{name}\" has timed out progressing."), progressing_before.as_ref()))
        } else {
            if let Some(s) = since {
                let left = s + i64::from(deadline) - Timestamp::now().as_second();
                requeue = Some(Duration::from_secs(left.max(1).unsigned_abs()));
            }
            progressing_before.clone()
        }
    };
    if let Some(p) = progressing {
        let keep = p.reason.as_deref() != Some("ReplicaSetUpdated");
        conditions.push(if keep { keep_if_same(p, progressing_before) } else { p });
    }
    for c in old_status.conditions.iter().flatten() {
        if c.type_ != "Available" && c.type_ != "Progressing" && c.type_ != "ReplicaFailure" {
            conditions.push(c.clone());
        }
    }
    let status = DeploymentStatus {
        replicas: Some(total),
        updated_replicas: Some(updated),
        ready_replicas: Some(ready),
        available_replicas: Some(avail),
        unavailable_replicas: Some((want - avail).max(0)),
        observed_generation: d.metadata.generation,
        collision_count: old_status.collision_count,
        conditions: Some(conditions),
        terminating_replicas: old_status.terminating_replicas,
    };
    if d.status.as_ref() != Some(&status) {
        let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
        match api.patch_status(&d.name_any(), &PatchParams::default(), &Patch::Merge(&json!({"status": status}))).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(match requeue {
        Some(after) if !complete => Action::requeue(after),
        _ => Action::await_change(),
    })
}

/// The previous condition when only the timestamps would change.
fn keep_if_same(new: DeploymentCondition, previous: Option<DeploymentCondition>) -> DeploymentCondition {
    match previous {
        Some(p) if p.status == new.status && p.reason == new.reason && p.message == new.message => p,
        _ => new,
    }
}
