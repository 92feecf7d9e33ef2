//! ControllerRevisions, as StatefulSets and DaemonSets keep them: one per distinct pod
//! template, named `OWNER-HASH` (the hash also labels the pods as
//! `controller-revision-hash`), numbered in the order the templates became current, the
//! oldest beyond `revisionHistoryLimit` removed.

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::owned_pods::{controlled_by, controller_ref, delete_ignoring_missing};

/// The pod label naming the revision a pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// FNV-1a (32 bit) of the template's JSON, as hex: stable across restarts and processes.
pub fn template_hash(template: &PodTemplateSpec) -> String {
    let text = serde_json::to_string(template).unwrap_or_default();
    let hash = text.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("{hash:x}")
}

/// The owner's revisions, oldest first.
pub async fn list<K: Resource>(api: &Api<ControllerRevision>, owner: &K, selector: &str) -> Result<Vec<ControllerRevision>, kube::Error> {
    let uid = owner.meta().uid.clone().unwrap_or_default();
    let mut revisions: Vec<ControllerRevision> = api.list(&ListParams::default().labels(selector)).await?.items.into_iter().filter(|r| controlled_by(r, &uid)).collect();
    revisions.sort_by_key(|r| r.revision);
    Ok(revisions)
}

/// Makes sure the revision for `template` exists and is the newest; returns its name.
pub async fn ensure<K: Resource<DynamicType = ()>>(
    api: &Api<ControllerRevision>,
    owner: &K,
    template: &PodTemplateSpec,
    revisions: &mut Vec<ControllerRevision>,
) -> Result<String, kube::Error> {
    let name = format!("{}-{}", owner.meta().name.as_deref().unwrap_or_default(), template_hash(template));
    let newest = revisions.last().map_or(0, |r| r.revision);
    if let Some(existing) = revisions.iter_mut().find(|r| r.name_any() == name) {
        // A template that is current again (a rollback) becomes the newest revision.
        if existing.revision < newest {
            existing.revision = newest + 1;
            *existing = api.replace(&name, &PostParams::default(), existing).await?;
            revisions.sort_by_key(|r| r.revision);
        }
        return Ok(name);
    }
    let mut labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    labels.insert(REVISION_LABEL.into(), name.clone());
    let revision = ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels),
            owner_references: Some(vec![controller_ref(owner)]),
            ..Default::default()
        },
        data: Some(RawExtension(json!({"spec": {"template": template}}))),
        revision: newest + 1,
    };
    let created = match api.create(&PostParams::default(), &revision).await {
        Ok(created) => created,
        Err(kube::Error::Api(e)) if e.code == 409 => api.get(&name).await?,
        Err(e) => return Err(e),
    };
    revisions.push(created);
    Ok(name)
}

/// The pod template a revision holds.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let template = revision.data.as_ref()?.0.pointer("/spec/template")?.clone();
    serde_json::from_value(template).ok()
}

/// Deletes the oldest revisions beyond `limit`, never one in `keep`.
pub async fn prune(api: &Api<ControllerRevision>, revisions: &[ControllerRevision], limit: i32, keep: &[&str]) -> Result<(), kube::Error> {
    let removable: Vec<&ControllerRevision> = revisions.iter().filter(|r| !keep.contains(&r.name_any().as_str())).collect();
    let excess = removable.len().saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
    for revision in removable.into_iter().take(excess) {
        delete_ignoring_missing(api, &revision.name_any(), &DeleteParams::default()).await?;
    }
    Ok(())
}
