//! The node's heartbeat: a `coordination.k8s.io/v1` Lease named after the node in
//! `kube-node-lease`, renewed every [`RENEW_EVERY`], as kubelet does.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;

use crate::Error;

/// Kubelet's default lease duration.
pub const DURATION_SECONDS: i32 = 40;
/// Kubelet renews at a quarter of the duration.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
pub const NAMESPACE: &str = "kube-node-lease";

/// Creates the lease or renews it.
pub async fn renew(client: &Client, node: &str, node_uid: Option<&str>) -> Result<(), Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let now = Timestamp::now().to_string();
    let spec = json!({
        "holderIdentity": node,
        "leaseDurationSeconds": DURATION_SECONDS,
        "renewTime": now,
    });
    let patched = leases.patch(node, &PatchParams::default(), &Patch::Merge(json!({ "spec": spec }))).await;
    match patched {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            let mut metadata = json!({"name": node, "namespace": NAMESPACE});
            if let Some(uid) = node_uid {
                metadata["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Node", "name": node, "uid": uid}]);
            }
            let lease: Lease = serde_json::from_value(json!({"metadata": metadata, "spec": spec}))
                .map_err(|e| Error::Internal(format!("lease object: {e}")))?;
            leases.create(&PostParams::default(), &lease).await.map(|_| ()).map_err(|e| Error::api(format!("create lease {NAMESPACE}/{node}"), e))
        }
        Err(e) => Err(Error::api(format!("renew lease {NAMESPACE}/{node}"), e)),
    }
}
