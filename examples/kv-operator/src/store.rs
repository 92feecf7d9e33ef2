//! The KeyValueStore reconciler: level-triggered, from the whole current state. Each
//! pass applies (server-side apply, one field manager) the ConfigMap, the headless
//! Service and the StatefulSet that `render` computes, then writes the store's status
//! from what the StatefulSet reports. Changes to the store and to the objects it owns
//! wake it.
//!
//! A finalizer keeps the store until its data volumes are gone: the StatefulSet's claims
//! outlive its pods (and Kubernetes never deletes them with the StatefulSet), so deleting
//! a store stops its members, then deletes their claims. Backups stay.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{finalizer, Event};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::render;
use crate::resources::KeyValueStore;
use crate::Error;

/// The finalizer that deletes a store's data volumes.
pub const FINALIZER: &str = "example.tugboat.dev/data-volumes";
/// The field manager of everything the operator applies.
pub const MANAGER: &str = render::MANAGED_BY;

/// Reconciles one KeyValueStore.
pub async fn reconcile(kvs: Arc<KeyValueStore>, client: Arc<Client>) -> Result<Action, Error> {
    let ns = kvs.namespace().unwrap_or_default();
    let api = Api::<KeyValueStore>::namespaced((*client).clone(), &ns);
    finalizer(&api, FINALIZER, kvs, |event| async {
        match event {
            Event::Apply(kvs) => apply(&client, &ns, &kvs).await,
            Event::Cleanup(kvs) => cleanup(&client, &ns, &kvs).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Makes the cluster match the store, and reports how far it is.
async fn apply(client: &Client, ns: &str, kvs: &KeyValueStore) -> Result<Action, Error> {
    let name = kvs.name_any();
    let owner = kvs.controller_owner_ref(&()).ok_or_else(|| Error::NoUid(name.clone()))?;
    let params = PatchParams::apply(MANAGER).force();
    let config_map = render::config_map(kvs, &name, &owner);
    Api::<ConfigMap>::namespaced(client.clone(), ns).patch(&render::config_map_name(&name), &params, &Patch::Apply(&config_map)).await?;
    Api::<Service>::namespaced(client.clone(), ns).patch(&name, &params, &Patch::Apply(&render::service(&name, &owner))).await?;
    let set = render::stateful_set(kvs, &name, &owner);
    let set = Api::<StatefulSet>::namespaced(client.clone(), ns).patch(&name, &params, &Patch::Apply(&set)).await?;

    let status = render::store_status(kvs, &name, Some(&set));
    if kvs.status.as_ref() != Some(&status) {
        let api = Api::<KeyValueStore>::namespaced(client.clone(), ns);
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
    }
    // The StatefulSet's changes wake us; the requeue is a safety net.
    Ok(Action::requeue(Duration::from_secs(if status.phase == "Running" { 300 } else { 10 })))
}

/// Stops the members, then deletes their data claims.
async fn cleanup(client: &Client, ns: &str, kvs: &KeyValueStore) -> Result<Action, Error> {
    let name = kvs.name_any();
    let sets = Api::<StatefulSet>::namespaced(client.clone(), ns);
    ignore_missing(sets.delete(&name, &DeleteParams::default()).await)?;
    let members = ListParams::default().labels(&render::selector(&name));
    let running = Api::<Pod>::namespaced(client.clone(), ns).list(&members).await?.items.len();
    if running > 0 {
        // An error keeps the finalizer; the error policy looks again shortly.
        return Err(Error::MembersRunning { store: format!("{ns}/{name}"), running });
    }
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns);
    let prefix = format!("data-{name}-");
    for claim in claims.list(&members).await? {
        let claim_name = claim.name_any();
        if claim_name.strip_prefix(&prefix).is_some_and(|n| n.parse::<u32>().is_ok()) {
            ignore_missing(claims.delete(&claim_name, &DeleteParams::default()).await)?;
        }
    }
    Ok(Action::await_change())
}

/// A delete's result, with "it was already gone" counted as success.
fn ignore_missing<T>(result: Result<T, kube::Error>) -> Result<(), Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
