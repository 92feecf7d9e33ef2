//! PersistentVolumes and their claims, as kube-controller-manager's PV controller and
//! k3s' local-path-provisioner do it together: the default StorageClass `local-path`
//! (WaitForFirstConsumer, reclaim Delete) is made at start; a claim binds to the smallest
//! Available volume that fits (class, size, access modes, and for WaitForFirstConsumer
//! claims the node the scheduler selected), or — for `local-path` — a new volume is
//! provisioned as a directory under the selected node's storage root (the agent announces
//! it on its Node) with node affinity to that node. Phases: Pending/Bound/Lost for claims,
//! Available/Bound/Released/Failed for volumes. A Released provisioned volume with reclaim
//! Delete is deleted; its node's agent removes the directory and then the finalizer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, ObjectReference, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use tug_api::quantity::Quantity;
use tug_api::storage::{
    CLEANUP_FINALIZER, HOSTNAME_LABEL, LOCAL_PATH_CLASS, LOCAL_PATH_PROVISIONER, SELECTED_NODE_ANNOTATION,
    STORAGE_ROOT_ANNOTATION,
};

use crate::owned_pods::record_event;
use crate::reconciler::{self, ReconcileError};

const COMPONENT: &str = "persistentvolume-controller";
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
const RESYNC: Duration = Duration::from_secs(15);

/// Makes the default StorageClass, then runs the claim and volume controllers.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    ensure_default_class(&client).await;
    tokio::try_join!(run_claims(client.clone()), run_volumes(client))?;
    Ok(())
}

/// Creates StorageClass `local-path` unless it exists (retrying while the API is not up).
async fn ensure_default_class(client: &Client) {
    let classes: Api<StorageClass> = Api::all(client.clone());
    let class = StorageClass {
        metadata: ObjectMeta {
            name: Some(LOCAL_PATH_CLASS.into()),
            annotations: Some(BTreeMap::from([(DEFAULT_CLASS.into(), "true".into())])),
            ..Default::default()
        },
        provisioner: LOCAL_PATH_PROVISIONER.into(),
        reclaim_policy: Some("Delete".into()),
        volume_binding_mode: Some("WaitForFirstConsumer".into()),
        ..Default::default()
    };
    loop {
        match classes.create(&PostParams::default(), &class).await {
            Ok(_) => return,
            Err(kube::Error::Api(e)) if e.code == 409 => return,
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

async fn run_claims(client: Client) -> Result<(), crate::Error> {
    let controller = Controller::new(Api::<PersistentVolumeClaim>::all(client.clone()), watcher::Config::default())
        .watches(Api::<PersistentVolume>::all(client.clone()), watcher::Config::default(), |pv| {
            let claim = pv.spec.as_ref()?.claim_ref.as_ref()?;
            Some(ObjectRef::new(claim.name.as_deref()?).within(claim.namespace.as_deref()?))
        });
    reconciler::run("persistentvolumeclaim", controller, move |pvc, _| reconcile_claim(client.clone(), pvc)).await
}

async fn run_volumes(client: Client) -> Result<(), crate::Error> {
    let controller = Controller::new(Api::<PersistentVolume>::all(client.clone()), watcher::Config::default())
        .watches(Api::<PersistentVolumeClaim>::all(client.clone()), watcher::Config::default(), |pvc| {
            let volume = pvc.spec.as_ref()?.volume_name.as_deref().filter(|v| !v.is_empty())?;
            Some(ObjectRef::new(volume))
        });
    reconciler::run("persistentvolume", controller, move |pv, _| reconcile_volume(client.clone(), pv)).await
}

fn claim_phase(pvc: &PersistentVolumeClaim) -> Option<&str> {
    pvc.status.as_ref().and_then(|s| s.phase.as_deref())
}

fn volume_phase(pv: &PersistentVolume) -> Option<&str> {
    pv.status.as_ref().and_then(|s| s.phase.as_deref())
}

async fn set_claim_phase(api: &Api<PersistentVolumeClaim>, pvc: &PersistentVolumeClaim, phase: &str, pv: Option<&PersistentVolume>) -> Result<(), kube::Error> {
    let mut status = json!({"phase": phase});
    if let Some(spec) = pv.and_then(|pv| pv.spec.as_ref()) {
        status["capacity"] = json!(spec.capacity);
        status["accessModes"] = json!(spec.access_modes);
    }
    let current = pvc.status.as_ref().map(|s| json!({"phase": s.phase, "capacity": s.capacity, "accessModes": s.access_modes}));
    let want = json!({"phase": phase, "capacity": status.get("capacity"), "accessModes": status.get("accessModes")});
    if current.as_ref() == Some(&want) || (pv.is_none() && claim_phase(pvc) == Some(phase)) {
        return Ok(());
    }
    api.patch_status(&pvc.name_any(), &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
    Ok(())
}

async fn set_volume_phase(client: &Client, pv: &PersistentVolume, phase: &str, message: Option<&str>) -> Result<(), kube::Error> {
    if volume_phase(pv) == Some(phase) {
        return Ok(());
    }
    let api: Api<PersistentVolume> = Api::all(client.clone());
    let status = json!({"status": {"phase": phase, "message": message}});
    api.patch_status(&pv.name_any(), &PatchParams::default(), &Patch::Merge(status)).await?;
    Ok(())
}

/// Bytes a claim asks for.
fn requested(pvc: &PersistentVolumeClaim) -> i128 {
    let request = pvc.spec.as_ref().and_then(|s| s.resources.as_ref()).and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage"));
    request.and_then(|q| Quantity::parse(&q.0).ok()).map_or(0, |q| q.value())
}

/// Bytes a volume holds.
fn capacity(pv: &PersistentVolume) -> i128 {
    let capacity = pv.spec.as_ref().and_then(|s| s.capacity.as_ref()).and_then(|c| c.get("storage"));
    capacity.and_then(|q| Quantity::parse(&q.0).ok()).map_or(0, |q| q.value())
}

/// Whether a node satisfies a volume's required node affinity (none: every node does).
fn node_fits(pv: &PersistentVolume, node: &Node) -> bool {
    let required = pv.spec.as_ref().and_then(|s| s.node_affinity.as_ref()).and_then(|a| a.required.as_ref());
    required.is_none_or(|r| crate::node_match::selector_matches(r, node))
}

/// Whether `pv` can serve `pvc` (class, size, access modes, mode, pre-binding, node).
fn fits(pv: &PersistentVolume, pvc: &PersistentVolumeClaim, class: &str, node: Option<&Node>) -> bool {
    let (Some(spec), Some(claim)) = (pv.spec.as_ref(), pvc.spec.as_ref()) else { return false };
    if pv.metadata.deletion_timestamp.is_some() || !matches!(volume_phase(pv), None | Some("Available")) {
        return false;
    }
    if let Some(r) = &spec.claim_ref {
        let same = r.namespace == pvc.namespace() && r.name.as_deref() == Some(pvc.name_any().as_str());
        if !same || r.uid.as_deref().is_some_and(|u| Some(u) != pvc.metadata.uid.as_deref()) {
            return false;
        }
    }
    let modes_ok = claim.access_modes.iter().flatten().all(|m| spec.access_modes.iter().flatten().any(|h| h == m));
    let mode_ok = claim.volume_mode.as_deref().unwrap_or("Filesystem") == spec.volume_mode.as_deref().unwrap_or("Filesystem");
    spec.storage_class_name.as_deref().unwrap_or_default() == class
        && capacity(pv) >= requested(pvc)
        && modes_ok
        && mode_ok
        && node.is_none_or(|n| node_fits(pv, n))
}

fn claim_ref(pvc: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: pvc.namespace(),
        name: Some(pvc.name_any()),
        uid: pvc.metadata.uid.clone(),
        resource_version: pvc.metadata.resource_version.clone(),
        ..Default::default()
    }
}

async fn reconcile_claim(client: Client, pvc: Arc<PersistentVolumeClaim>) -> Result<Action, ReconcileError> {
    if pvc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = pvc.namespace().unwrap_or_default();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let bound_to = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|v| !v.is_empty());
    if let Some(volume) = bound_to {
        let Some(pv) = volumes.get_opt(&volume).await? else {
            if claim_phase(&pvc) != Some("Lost") {
                record_event(&client, COMPONENT, pvc.as_ref(), "Warning", "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!").await;
            }
            set_claim_phase(&claims, &pvc, "Lost", None).await?;
            return Ok(Action::requeue(RESYNC));
        };
        let claimed = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        match claimed {
            // Pre-bound by the user (volumeName set): complete the volume's side.
            None => {
                bind_volume(&volumes, &pv, &pvc).await?;
                return Ok(Action::requeue(Duration::from_millis(200)));
            }
            Some(r) if r.uid.as_deref().is_some_and(|u| Some(u) != pvc.metadata.uid.as_deref()) => {
                set_claim_phase(&claims, &pvc, "Lost", None).await?;
                return Ok(Action::requeue(RESYNC));
            }
            Some(_) => {}
        }
        set_claim_phase(&claims, &pvc, "Bound", Some(&pv)).await?;
        set_volume_phase(&client, &pv, "Bound", None).await?;
        return Ok(Action::requeue(RESYNC));
    }
    if claim_phase(&pvc).is_none() {
        set_claim_phase(&claims, &pvc, "Pending", None).await?;
    }
    let class_name = pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()).unwrap_or_default();
    let class = match class_name.as_str() {
        "" => None,
        name => Api::<StorageClass>::all(client.clone()).get_opt(name).await?,
    };
    let wait_for_consumer = class.as_ref().and_then(|c| c.volume_binding_mode.as_deref()) == Some("WaitForFirstConsumer");
    let selected = pvc.annotations().get(SELECTED_NODE_ANNOTATION).cloned();
    if wait_for_consumer && selected.is_none() {
        return Ok(Action::requeue(RESYNC));
    }
    let node = match &selected {
        Some(name) if wait_for_consumer => Api::<Node>::all(client.clone()).get_opt(name).await?,
        _ => None,
    };
    if wait_for_consumer && node.is_none() {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let mut candidates: Vec<PersistentVolume> = volumes.list(&Default::default()).await?.items.into_iter().filter(|pv| fits(pv, &pvc, &class_name, node.as_ref())).collect();
    // Volumes pre-bound to this claim first, then the smallest that fits.
    candidates.sort_by_key(|pv| (pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_none(), capacity(pv)));
    if let Some(pv) = candidates.first() {
        bind(&client, pv, &pvc).await?;
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    match (&class, &node) {
        (Some(class), Some(node)) if class.provisioner == LOCAL_PATH_PROVISIONER => {
            provision(&client, class, node, &pvc).await?;
            Ok(Action::requeue(Duration::from_millis(200)))
        }
        (Some(class), _) if class.provisioner == LOCAL_PATH_PROVISIONER => Ok(Action::requeue(RESYNC)),
        (Some(class), _) => {
            let message = format!("waiting for a volume to be created by external provisioner \"{}\"", class.provisioner);
            record_event(&client, COMPONENT, pvc.as_ref(), "Normal", "ExternalProvisioning", &message).await;
            Ok(Action::requeue(RESYNC))
        }
        (None, _) => {
            record_event(&client, COMPONENT, pvc.as_ref(), "Normal", "FailedBinding", "no persistent volumes available for this claim and no storage class is set").await;
            Ok(Action::requeue(RESYNC))
        }
    }
}

/// Points the volume at the claim (compare-and-swap on the volume's resourceVersion).
async fn bind_volume(volumes: &Api<PersistentVolume>, pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> Result<(), kube::Error> {
    let mut updated = pv.clone();
    if let Some(spec) = updated.spec.as_mut() {
        spec.claim_ref = Some(claim_ref(pvc));
    }
    volumes.replace(&pv.name_any(), &PostParams::default(), &updated).await?;
    Ok(())
}

/// Binds both sides: the volume's claimRef, then the claim's volumeName.
async fn bind(client: &Client, pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> Result<(), kube::Error> {
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let claimed = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).and_then(|r| r.uid.as_deref()) == pvc.metadata.uid.as_deref();
    if !claimed {
        bind_volume(&volumes, pv, pvc).await?;
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &pvc.namespace().unwrap_or_default());
    let mut updated = pvc.clone();
    if let Some(spec) = updated.spec.as_mut() {
        spec.volume_name = Some(pv.name_any());
    }
    let annotations = updated.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert("pv.kubernetes.io/bind-completed".into(), "yes".into());
    annotations.insert("pv.kubernetes.io/bound-by-controller".into(), "yes".into());
    claims.replace(&pvc.name_any(), &PostParams::default(), &updated).await?;
    Ok(())
}

/// Makes a volume for the claim as a directory under the node's storage root, pre-bound to it.
async fn provision(client: &Client, class: &StorageClass, node: &Node, pvc: &PersistentVolumeClaim) -> Result<(), kube::Error> {
    let node_name = node.name_any();
    let Some(root) = node.annotations().get(STORAGE_ROOT_ANNOTATION) else {
        let message = format!("failed to provision volume with StorageClass \"{}\": node \"{node_name}\" has no {STORAGE_ROOT_ANNOTATION} annotation (is its agent running?)", class.name_any());
        record_event(client, COMPONENT, pvc, "Warning", "ProvisioningFailed", &message).await;
        return Ok(());
    };
    let uid = pvc.metadata.uid.clone().unwrap_or_default();
    let (ns, name) = (pvc.namespace().unwrap_or_default(), pvc.name_any());
    let pv_name = format!("pvc-{uid}");
    let claim = pvc.spec.as_ref();
    let storage = claim.and_then(|s| s.resources.as_ref()).and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage")).map_or_else(|| "0".to_string(), |q| q.0.clone());
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": {
            "name": pv_name,
            "annotations": {PROVISIONED_BY: LOCAL_PATH_PROVISIONER},
            "finalizers": [CLEANUP_FINALIZER],
        },
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": claim.and_then(|s| s.access_modes.clone()).unwrap_or_else(|| vec!["ReadWriteOnce".into()]),
            "persistentVolumeReclaimPolicy": class.reclaim_policy.as_deref().unwrap_or("Delete"),
            "storageClassName": class.name_any(),
            "volumeMode": "Filesystem",
            "hostPath": {"path": format!("{}/{pv_name}_{ns}_{name}", root.trim_end_matches('/')), "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": HOSTNAME_LABEL, "operator": "In", "values": [node_name]}]}]}},
            "claimRef": claim_ref(pvc),
        },
    }))
    .map_err(kube::Error::SerdeError)?;
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let created = match volumes.create(&PostParams::default(), &pv).await {
        Ok(created) => created,
        Err(kube::Error::Api(e)) if e.code == 409 => volumes.get(&pv_name).await?,
        Err(e) => return Err(e),
    };
    let message = format!("Successfully provisioned volume {pv_name}");
    record_event(client, COMPONENT, pvc, "Normal", "ProvisioningSucceeded", &message).await;
    bind(client, &created, pvc).await
}

async fn reconcile_volume(client: Client, pv: Arc<PersistentVolume>) -> Result<Action, ReconcileError> {
    if pv.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.clone()) else {
        set_volume_phase(&client, &pv, "Available", None).await?;
        return Ok(Action::await_change());
    };
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), r.namespace.as_deref().unwrap_or("default"));
    let claim = claims.get_opt(r.name.as_deref().unwrap_or_default()).await?;
    let same_claim = claim.as_ref().is_some_and(|c| r.uid.is_none() || c.metadata.uid == r.uid);
    if same_claim {
        let bound = claim.as_ref().and_then(|c| c.spec.as_ref()).and_then(|s| s.volume_name.as_deref()) == Some(pv.name_any().as_str());
        set_volume_phase(&client, &pv, if bound { "Bound" } else { "Available" }, None).await?;
        return Ok(Action::requeue(RESYNC));
    }
    // The claim is gone: the volume is released, and reclaimed as its policy says.
    set_volume_phase(&client, &pv, "Released", None).await?;
    let policy = pv.spec.as_ref().and_then(|s| s.persistent_volume_reclaim_policy.as_deref()).unwrap_or("Retain");
    let ours = pv.annotations().get(PROVISIONED_BY).map(String::as_str) == Some(LOCAL_PATH_PROVISIONER);
    match policy {
        "Delete" if ours => {
            let volumes: Api<PersistentVolume> = Api::all(client.clone());
            crate::owned_pods::delete_ignoring_missing(&volumes, &pv.name_any(), &DeleteParams::default()).await?;
            Ok(Action::await_change())
        }
        "Delete" => {
            let message = format!("error getting deleter volume plugin for volume \"{}\": no deletable volume plugin matched", pv.name_any());
            record_event(&client, COMPONENT, pv.as_ref(), "Warning", "VolumeFailedDelete", &message).await;
            set_volume_phase(&client, &pv, "Failed", Some(&message)).await?;
            Ok(Action::await_change())
        }
        _ => Ok(Action::await_change()),
    }
}
