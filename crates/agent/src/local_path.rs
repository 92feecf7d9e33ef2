//! The node's side of local-path storage (as k3s' local-path-provisioner's helper pods do
//! on each node): the agent announces its storage root on its Node (the provisioner makes
//! volume paths under it), creates a volume's directory when a pod first mounts it (the
//! PV's `hostPath` with `DirectoryOrCreate`), and removes the directory of a deleted
//! provisioned volume with affinity to this node before releasing the volume's finalizer.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Node, PersistentVolume};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Client, ResourceExt};
use serde_json::json;
use tug_api::storage::{CLEANUP_FINALIZER, HOSTNAME_LABEL, STORAGE_ROOT_ANNOTATION};

use crate::{Error, Options};

/// Where this node keeps local-path volumes.
pub fn storage_root(options: &Options) -> PathBuf {
    options.data_dir.join("storage")
}

/// Writes the storage root on the Node, for the provisioner.
pub async fn announce(client: &Client, options: &Options) -> Result<(), Error> {
    let root = storage_root(options);
    std::fs::create_dir_all(&root).map_err(|e| Error::Internal(format!("create {}: {e}", root.display())))?;
    let nodes: Api<Node> = Api::all(client.clone());
    let patch = json!({"metadata": {"annotations": {STORAGE_ROOT_ANNOTATION: root.to_string_lossy()}}});
    nodes
        .patch(&options.node_name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|e| Error::api(format!("annotate node {}", options.node_name), e))?;
    Ok(())
}

/// The node a local volume is pinned to by its `kubernetes.io/hostname` affinity.
fn pinned_node(pv: &PersistentVolume) -> Option<&str> {
    let terms = &pv.spec.as_ref()?.node_affinity.as_ref()?.required.as_ref()?.node_selector_terms;
    terms
        .iter()
        .flat_map(|t| t.match_expressions.iter().flatten())
        .find(|e| e.key == HOSTNAME_LABEL && e.operator == "In")
        .and_then(|e| e.values.as_ref()?.first().map(String::as_str))
}

/// Removes the directories of deleted volumes of this node until the watch ends.
pub async fn run(client: Client, options: Options) -> Result<(), Error> {
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let root = storage_root(&options);
    let mut events = std::pin::pin!(watcher::watcher(volumes.clone(), watcher::Config::default()).default_backoff());
    while let Some(event) = events.next().await {
        let pv = match event {
            Ok(Event::Apply(pv) | Event::InitApply(pv)) => pv,
            _ => continue,
        };
        let ours = pinned_node(&pv) == Some(options.node_name.as_str());
        let finalizing = pv.metadata.deletion_timestamp.is_some() && pv.finalizers().iter().any(|f| f == CLEANUP_FINALIZER);
        if !ours || !finalizing {
            continue;
        }
        if let Err(e) = clean_up(&volumes, &pv, &root).await {
            eprintln!("tug agent: volume {}: {e}", pv.name_any());
        }
    }
    Err(Error::Internal("the persistent volume watch ended".into()))
}

/// Removes the volume's directory (only ever inside `root`) and then its finalizer.
async fn clean_up(volumes: &Api<PersistentVolume>, pv: &PersistentVolume, root: &Path) -> Result<(), String> {
    if let Some(path) = pv.spec.as_ref().and_then(|s| s.host_path.as_ref()).map(|h| PathBuf::from(&h.path)) {
        let inside = path.parent() == Some(root) && path.file_name().is_some();
        if !inside {
            return Err(format!("{} is not a directory of this node's storage root {}; left in place", path.display(), root.display()));
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("remove {}: {e}", path.display())),
        }
    }
    let mut updated = pv.clone();
    if let Some(finalizers) = updated.metadata.finalizers.as_mut() {
        finalizers.retain(|f| f != CLEANUP_FINALIZER);
    }
    match volumes.replace(&pv.name_any(), &PostParams::default(), &updated).await {
        Ok(_) => Ok(()),
        // Changed meanwhile (the next event retries) or gone already.
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
