//! Small helpers the stateful, batch, storage and node controllers share on top of
//! [`crate::workload`] and [`crate::events`]: a pod's phase, deleting an object that may
//! already be gone, and recording an Event as a named component in one call.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use kube::{Client, Resource};

use crate::events::Events;

/// The pod's phase (`Pending` when unreported).
pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending")
}

/// Whether the pod's phase is final (Succeeded or Failed).
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Deletes an object; one already gone is fine.
pub async fn delete_ignoring_missing<K>(api: &Api<K>, name: &str, params: &DeleteParams) -> Result<(), kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Records a `Normal` or `Warning` Event about `object` from `component` (best effort).
pub async fn record_event<K: Resource<DynamicType = ()>>(client: &Client, component: &str, object: &K, type_: &str, reason: &str, message: &str) {
    let events = Events::new(client.clone(), component);
    match type_ {
        "Warning" => events.warning(object, reason, message.to_string()).await,
        _ => events.normal(object, reason, message.to_string()).await,
    }
}
