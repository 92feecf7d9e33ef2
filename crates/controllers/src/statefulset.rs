//! StatefulSets: pods `NAME-0..NAME-(N-1)` with stable names, hostnames (`hostname` and
//! the service's `subdomain`, for DNS identity) and a PersistentVolumeClaim per ordinal
//! from `volumeClaimTemplates` (`TEMPLATE-NAME-ORDINAL`) that outlives the pod, kept across
//! scale down and up unless `persistentVolumeClaimRetentionPolicy` says Delete.
//! `OrderedReady` creates pod N+1 only once 0..N are Running and Ready and removes from the
//! highest ordinal down, one at a time; `Parallel` does both at once. Updates go through
//! ControllerRevisions: RollingUpdate replaces pods from the highest ordinal down to
//! `partition`, one at a time, each once the rest are Ready; OnDelete leaves replacing to
//! the user. Status counts replicas, ready, current and updated pods and both revisions.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::owned_pods::{controlled_by, controller_ref, delete_ignoring_missing, is_ready, is_terminal, record_event, selector_query};
use crate::reconciler::{self, ReconcileError};
use crate::revisions::{self, REVISION_LABEL};

const COMPONENT: &str = "statefulset-controller";
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
const RESYNC: Duration = Duration::from_secs(30);

/// Runs the controller until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let controller = Controller::new(Api::<StatefulSet>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Pod>::all(client.clone()), watcher::Config::default());
    reconciler::run("statefulset", controller, move |set, _| reconcile(client.clone(), set)).await
}

/// The ordinal of a pod named `SET-N`.
fn ordinal(set: &str, pod: &str) -> Option<i32> {
    let n = pod.strip_prefix(set)?.strip_prefix('-')?;
    let canonical = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'));
    canonical.then(|| n.parse().ok()).flatten()
}

fn revision_of(pod: &Pod) -> Option<&str> {
    pod.labels().get(REVISION_LABEL).map(String::as_str)
}

/// The claim of template `template` for the pod of ordinal `ord`.
fn claim_name(template: &PersistentVolumeClaim, set: &str, ord: i32) -> String {
    format!("{}-{set}-{ord}", template.name_any())
}

struct Set<'a> {
    client: &'a Client,
    set: &'a StatefulSet,
    name: String,
    pods: Api<Pod>,
    claims: Api<PersistentVolumeClaim>,
}

impl Set<'_> {
    fn templates(&self) -> &[PersistentVolumeClaim] {
        self.set.spec.as_ref().and_then(|s| s.volume_claim_templates.as_deref()).unwrap_or_default()
    }

    fn retention(&self, when: fn(&k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy) -> Option<&String>) -> bool {
        let policy = self.set.spec.as_ref().and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
        policy.and_then(when).map(String::as_str) == Some("Delete")
    }

    /// Makes the ordinal's claims that are missing; false while one is still being deleted.
    async fn ensure_claims(&self, ord: i32) -> Result<bool, kube::Error> {
        for template in self.templates() {
            let name = claim_name(template, &self.name, ord);
            match self.claims.get_opt(&name).await? {
                Some(claim) if claim.metadata.deletion_timestamp.is_some() => return Ok(false),
                Some(_) => {}
                None => {
                    let mut claim = template.clone();
                    claim.status = None;
                    let mut labels = self.set.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).unwrap_or_default();
                    labels.extend(template.labels().clone());
                    claim.metadata = ObjectMeta {
                        name: Some(name.clone()),
                        labels: Some(labels),
                        annotations: template.metadata.annotations.clone(),
                        owner_references: self.retention(|p| p.when_deleted.as_ref()).then(|| vec![OwnerReference { controller: Some(false), ..controller_ref(self.set) }]),
                        ..Default::default()
                    };
                    match self.claims.create(&PostParams::default(), &claim).await {
                        Ok(_) => {
                            let message = format!("create Claim {name} Pod {}-{ord} in StatefulSet {} success", self.name, self.name);
                            record_event(self.client, COMPONENT, self.set, "Normal", "SuccessfulCreate", &message).await;
                        }
                        Err(kube::Error::Api(e)) if e.code == 409 => {}
                        Err(e) => {
                            let message = format!("create Claim {name} for Pod {}-{ord} in StatefulSet {} failed error: {e}", self.name, self.name);
                            record_event(self.client, COMPONENT, self.set, "Warning", "FailedCreate", &message).await;
                            return Err(e);
                        }
                    }
                }
            }
        }
        Ok(true)
    }

    /// The pod of ordinal `ord` from `template` at revision `revision`.
    fn pod(&self, template: &PodTemplateSpec, revision: &str, ord: i32) -> Pod {
        let pod_name = format!("{}-{ord}", self.name);
        let meta = template.metadata.clone().unwrap_or_default();
        let mut labels = meta.labels.unwrap_or_default();
        labels.insert(POD_NAME_LABEL.into(), pod_name.clone());
        labels.insert(POD_INDEX_LABEL.into(), ord.to_string());
        labels.insert(REVISION_LABEL.into(), revision.into());
        let mut spec = template.spec.clone().unwrap_or_default();
        spec.hostname = Some(pod_name.clone());
        spec.subdomain = self.set.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty());
        let volumes = spec.volumes.get_or_insert_with(Vec::new);
        for claim in self.templates() {
            volumes.retain(|v| v.name != claim.name_any());
            volumes.push(Volume {
                name: claim.name_any(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim_name(claim, &self.name, ord), read_only: None }),
                ..Default::default()
            });
        }
        Pod {
            metadata: ObjectMeta {
                name: Some(pod_name),
                labels: Some(labels),
                annotations: meta.annotations,
                owner_references: Some(vec![controller_ref(self.set)]),
                ..Default::default()
            },
            spec: Some(spec),
            status: None,
        }
    }

    async fn create_pod(&self, template: &PodTemplateSpec, revision: &str, ord: i32) -> Result<bool, kube::Error> {
        if !self.ensure_claims(ord).await? {
            return Ok(false);
        }
        let pod = self.pod(template, revision, ord);
        let pod_name = pod.name_any();
        match self.pods.create(&PostParams::default(), &pod).await {
            Ok(_) => {
                let message = format!("create Pod {pod_name} in StatefulSet {} successful", self.name);
                record_event(self.client, COMPONENT, self.set, "Normal", "SuccessfulCreate", &message).await;
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => {
                let message = format!("create Pod {pod_name} in StatefulSet {} failed error: {e}", self.name);
                record_event(self.client, COMPONENT, self.set, "Warning", "FailedCreate", &message).await;
                Err(e)
            }
        }
    }

    async fn delete_pod(&self, pod: &Pod) -> Result<(), kube::Error> {
        delete_ignoring_missing(&self.pods, &pod.name_any(), &DeleteParams::default()).await?;
        let message = format!("delete Pod {} in StatefulSet {} successful", pod.name_any(), self.name);
        record_event(self.client, COMPONENT, self.set, "Normal", "SuccessfulDelete", &message).await;
        Ok(())
    }
}

async fn reconcile(client: Client, set: Arc<StatefulSet>) -> Result<Action, ReconcileError> {
    let (Some(spec), Some(uid)) = (set.spec.as_ref(), set.metadata.uid.as_deref()) else {
        return Ok(Action::await_change());
    };
    if set.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = set.namespace().unwrap_or_default();
    let name = set.name_any();
    let selector = selector_query(&spec.selector);
    let s = Set {
        client: &client,
        set: set.as_ref(),
        name: name.clone(),
        pods: Api::namespaced(client.clone(), &ns),
        claims: Api::namespaced(client.clone(), &ns),
    };

    let revision_api: Api<ControllerRevision> = Api::namespaced(client.clone(), &ns);
    let mut history = revisions::list(&revision_api, set.as_ref(), &selector).await?;
    let update_revision = revisions::ensure(&revision_api, set.as_ref(), &spec.template, &mut history).await?;
    let status = set.status.as_ref();
    let current_revision = status
        .and_then(|s| s.current_revision.clone())
        .filter(|r| history.iter().any(|h| h.name_any() == *r))
        .unwrap_or_else(|| update_revision.clone());
    let current_template = history.iter().find(|h| h.name_any() == current_revision).and_then(revisions::template_of).unwrap_or_else(|| spec.template.clone());

    let mut pods: BTreeMap<i32, Pod> = BTreeMap::new();
    for pod in s.pods.list(&ListParams::default().labels(&selector)).await?.items {
        if controlled_by(&pod, uid) {
            if let Some(ord) = ordinal(&name, &pod.name_any()) {
                pods.insert(ord, pod);
            }
        }
    }
    let replicas = spec.replicas.unwrap_or(1).max(0);
    let ordered = spec.pod_management_policy.as_deref() != Some("Parallel");
    let rolling = spec.update_strategy.as_ref().and_then(|u| u.type_.as_deref()) != Some("OnDelete");
    let partition = spec.update_strategy.as_ref().and_then(|u| u.rolling_update.as_ref()).and_then(|r| r.partition).unwrap_or(0);

    let mut blocked = false;
    // Create, replace failed pods, wait for readiness: lowest ordinal first.
    for ord in 0..replicas {
        match pods.get(&ord) {
            None => {
                let (template, revision) = if rolling && ord < partition { (&current_template, &current_revision) } else { (&spec.template, &update_revision) };
                s.create_pod(template, revision, ord).await?;
                blocked |= ordered;
            }
            Some(pod) if is_terminal(pod) && pod.metadata.deletion_timestamp.is_none() => {
                let message = format!("StatefulSet {ns}/{name} is recreating failed Pod {}", pod.name_any());
                record_event(&client, COMPONENT, set.as_ref(), "Warning", "RecreatingFailedPod", &message).await;
                s.delete_pod(pod).await?;
                blocked |= ordered;
            }
            Some(pod) => {
                s.ensure_claims(ord).await?;
                blocked |= ordered && !is_ready(pod);
            }
        }
        if blocked {
            break;
        }
    }
    // Scale down: highest ordinal first; one at a time when ordered, once the rest are Ready.
    if !blocked {
        let condemned: Vec<&Pod> = pods.range(replicas..).rev().map(|(_, p)| p).collect();
        for pod in condemned {
            if pod.metadata.deletion_timestamp.is_none() {
                s.delete_pod(pod).await?;
            }
            if ordered {
                blocked = true;
                break;
            }
        }
    }
    // Claims of ordinals scaled away, once their pods are gone, when the policy says Delete.
    if s.retention(|p| p.when_scaled.as_ref()) {
        let live: HashSet<i32> = pods.keys().copied().collect();
        for claim in s.claims.list(&ListParams::default().labels(&selector_query(&spec.selector))).await?.items {
            let stale = s.templates().iter().any(|t| {
                claim.name_any().strip_prefix(&format!("{}-{name}-", t.name_any())).and_then(|n| n.parse::<i32>().ok()).is_some_and(|n| n >= replicas && !live.contains(&n))
            });
            if stale && claim.metadata.deletion_timestamp.is_none() {
                delete_ignoring_missing(&s.claims, &claim.name_any(), &DeleteParams::default()).await?;
            }
        }
    }
    // Rolling update: the highest ordinal at or above the partition not yet updated.
    let all_ready = (0..replicas).all(|o| pods.get(&o).is_some_and(is_ready));
    if rolling && !blocked && all_ready && pods.len() as i32 == replicas {
        if let Some((_, pod)) = pods.range(partition.max(0)..replicas).rev().find(|(_, p)| revision_of(p) != Some(update_revision.as_str())) {
            s.delete_pod(pod).await?;
        }
    }

    // Status from what was observed.
    let counted: Vec<&Pod> = pods.values().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
    let ready = counted.iter().filter(|p| is_ready(p)).count() as i32;
    let updated = counted.iter().filter(|p| revision_of(p) == Some(update_revision.as_str())).count() as i32;
    let mut current = counted.iter().filter(|p| revision_of(p) == Some(current_revision.as_str())).count() as i32;
    let mut current_revision = current_revision;
    if updated == replicas && ready == replicas && counted.len() as i32 == replicas {
        current_revision = update_revision.clone();
        current = updated;
    }
    let new_status = json!({
        "observedGeneration": set.metadata.generation,
        "replicas": counted.len(),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": 0,
    });
    let old_status = serde_json::to_value(set.status.clone().unwrap_or_default()).unwrap_or_default();
    let changed = new_status.as_object().is_some_and(|m| m.iter().any(|(k, v)| old_status.get(k).unwrap_or(&json!(0)) != v));
    if changed {
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": new_status}))).await?;
    }
    let keep: Vec<&str> = pods.values().filter_map(revision_of).chain([current_revision.as_str(), update_revision.as_str()]).collect();
    revisions::prune(&revision_api, &history, spec.revision_history_limit.unwrap_or(10), &keep).await?;
    Ok(Action::requeue(RESYNC))
}

#[cfg(test)]
mod tests {
    use super::ordinal;

    #[test]
    fn ordinals_come_from_names_of_the_set() {
        assert_eq!(ordinal("web", "web-0"), Some(0));
        assert_eq!(ordinal("web", "web-12"), Some(12));
        assert_eq!(ordinal("web", "web-1-0"), None);
        assert_eq!(ordinal("web", "webx-1"), None);
        assert_eq!(ordinal("web", "web-"), None);
        assert_eq!(ordinal("web", "web--1"), None);
    }
}
