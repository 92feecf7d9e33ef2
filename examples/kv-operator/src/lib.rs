//! An example operator, meant as a template: it runs a small replicated key-value
//! service (the `image/` next to this crate) as a StatefulSet, and knows how to scale
//! it, roll a configuration change through its members, back up every member's data
//! and restore it. See README.md for the tour.
//!
//! - `resources`: the custom resource types; the CRDs are generated from them.
//! - `render`: pure functions from a KeyValueStore to the objects it needs and to its
//!   status.
//! - `store`: the KeyValueStore reconciler (with a finalizer).
//! - `backup`: the KeyValueBackup and KeyValueRestore reconcilers (Jobs per member).
//!
//! [`run`] starts the three controllers; the binary (`src/main.rs`) only wires a client
//! to it.

pub mod backup;
pub mod render;
pub mod resources;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, CustomResourceExt, Resource};

use resources::{KeyValueBackup, KeyValueRestore, KeyValueStore};

/// Why a reconcile failed (it is retried; the operator never stops for one object).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(#[from] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("{0} has no uid: only objects read from the API server can own others")]
    NoUid(String),
    #[error("waiting for {running} members of KeyValueStore {store} to stop before deleting their volumes")]
    MembersRunning { store: String, running: usize },
    #[error("invalid object: {0}")]
    Json(#[from] serde_json::Error),
}

/// The three CustomResourceDefinitions as one multi-document YAML (what
/// `tug-kv-operator crd` prints and `crd.yaml` holds).
pub fn crds_yaml() -> Result<String, serde_saphyr::SerializeError> {
    let mut out = String::from("# Generated from src/resources.rs by `tug-kv-operator crd`: do not edit.\n");
    for crd in [KeyValueStore::crd(), KeyValueBackup::crd(), KeyValueRestore::crd()] {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}

/// Only what this operator made: the label its objects carry.
fn managed() -> watcher::Config {
    watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={}", render::MANAGED_BY))
}

/// Runs the KeyValueStore, KeyValueBackup and KeyValueRestore controllers in every
/// namespace until a shutdown signal (SIGINT or SIGTERM).
pub async fn run(client: Client) {
    let stores = Controller::new(Api::<KeyValueStore>::all(client.clone()), watcher::Config::default())
        .owns(Api::<StatefulSet>::all(client.clone()), managed())
        .owns(Api::<ConfigMap>::all(client.clone()), managed())
        .owns(Api::<Service>::all(client.clone()), managed())
        .shutdown_on_signal()
        .run(store::reconcile, retry, Arc::new(client.clone()))
        .for_each(log);
    let backups = Controller::new(Api::<KeyValueBackup>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Job>::all(client.clone()), managed())
        .shutdown_on_signal()
        .run(backup::reconcile_backup, retry, Arc::new(client.clone()))
        .for_each(log);
    let restores = Controller::new(Api::<KeyValueRestore>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Job>::all(client.clone()), managed())
        .shutdown_on_signal()
        .run(backup::reconcile_restore, retry, Arc::new(client))
        .for_each(log);
    tokio::join!(stores, backups, restores);
}

/// The error policy: log (in `log`) and look again in a few seconds.
fn retry<K>(_: Arc<K>, _: &Error, _: Arc<Client>) -> Action {
    Action::requeue(Duration::from_secs(2))
}

/// Logs a failed reconcile to stderr (a reconcile that worked says nothing).
async fn log<K: Resource>(result: Result<(ObjectRef<K>, Action), controller::Error<Error, watcher::Error>>) {
    if let Err(e) = result {
        match std::error::Error::source(&e) {
            Some(cause) => eprintln!("{e}: {cause}"),
            None => eprintln!("{e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_crd_yaml_is_what_the_types_generate() {
        let committed = include_str!("../crd.yaml");
        let generated = crate::crds_yaml().unwrap();
        assert!(committed == generated, "crd.yaml is stale: cargo run --release -p tug-kv-operator -- crd > examples/kv-operator/crd.yaml");
    }
}
