//! The namespace controller: a namespace being deleted (phase Terminating, the `kubernetes`
//! finalizer in `spec.finalizers`) has every object in it deleted (custom resources too);
//! once none is left it
//! lifts the finalizer through the `finalize` subresource and the API server removes the
//! namespace.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::reconciler::{self, ReconcileError};

const FINALIZER: &str = "kubernetes";
/// How often a namespace whose contents are still going is looked at again.
const RECHECK: Duration = Duration::from_secs(1);

/// Runs the controller until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let controller = Controller::new(Api::<Namespace>::all(client.clone()), watcher::Config::default());
    reconciler::run("namespace", controller, move |ns, _| reconcile(client.clone(), ns)).await
}

async fn reconcile(client: Client, namespace: Arc<Namespace>) -> Result<Action, ReconcileError> {
    let finalizers = namespace.spec.as_ref().and_then(|s| s.finalizers.clone()).unwrap_or_default();
    if namespace.metadata.deletion_timestamp.is_none() || !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let name = namespace.name_any();
    let mut remaining = 0;
    let mut kinds: Vec<_> = crate::kinds::stored().filter(|rt| rt.namespaced).map(crate::kinds::api_resource).collect();
    kinds.extend(crate::kinds::custom_namespaced(&client).await?);
    for resource in &kinds {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &name, resource);
        let left = api.list_metadata(&ListParams::default()).await?.items;
        if left.is_empty() {
            continue;
        }
        let pending: Vec<_> = left.iter().filter(|o| o.metadata.deletion_timestamp.is_none()).collect();
        if !pending.is_empty() {
            api.delete_collection(&DeleteParams::background(), &ListParams::default()).await?;
        }
        remaining += left.len();
    }
    if remaining > 0 {
        return Ok(Action::requeue(RECHECK));
    }
    let kept: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "spec": {"finalizers": kept}});
    let api: Api<Namespace> = Api::all(client);
    match api.replace_subresource("finalize", &name, &PostParams::default(), &body).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Action::await_change())
}
