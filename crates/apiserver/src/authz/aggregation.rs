//! ClusterRole aggregation, kept in the store: whenever the role view changes,
//! each ClusterRole with an `aggregationRule` whose stored `rules` differ from
//! the union of the rules of the ClusterRoles it selects is written with that
//! union (as Kubernetes' aggregation controller does), so `kubectl get
//! clusterrole view -o yaml` shows what `view` grants.

use std::sync::Arc;

use serde_json::{json, Value};
use tug_store::Store;

use super::rbac::Rbac;
use crate::object;

/// Keeps aggregated ClusterRoles filled until the store closes.
pub fn spawn(store: Arc<dyn Store>, rbac: Arc<Rbac>) -> tokio::task::JoinHandle<()> {
    let Some(rt) = tug_api::registry::find("rbac.authorization.k8s.io", "v1", "clusterroles") else {
        return tokio::spawn(async {});
    };
    let mut changes = rbac.changes();
    tokio::spawn(async move {
        loop {
            for (name, rules) in rbac.aggregated_out_of_date() {
                let key = rt.key(None, &name);
                let Ok(Some(kv)) = store.get(&key).await else {
                    continue;
                };
                let Ok(mut role) = serde_json::from_slice::<Value>(&kv.value) else {
                    continue;
                };
                role["rules"] = json!(rules);
                // A conflict means the role changed meanwhile: the next round sees it.
                if let Err(tug_store::Error::Closed) = store
                    .update(&key, object::to_bytes(rt, &role), kv.mod_revision, None)
                    .await
                {
                    return;
                }
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    })
}
