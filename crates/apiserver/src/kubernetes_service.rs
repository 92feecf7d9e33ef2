//! The API's own Service: `kubernetes` in `default`, cluster IP 10.43.0.1 (reserved in
//! `ipam`), port 443 named `https`, with an Endpoints and an EndpointSlice naming the
//! address pods reach the server at and its port, as kube-apiserver keeps them. Pods find
//! it as `kubernetes.default.svc` and through `KUBERNETES_SERVICE_HOST`, which is how
//! in-cluster clients (kube-rs, the Python client's `load_incluster_config`) connect.
//!
//! Written straight to the store when the server starts, and rewritten only when the
//! address or port changed since the last start; it has no selector, so the endpoint
//! controllers leave it alone.

use std::net::IpAddr;

use serde_json::{json, Value};
use tug_store::Store;

use crate::object::{from_kv, to_bytes};
use crate::status::{ApiError, ApiResult};

const NAME: &str = "kubernetes";
const NAMESPACE: &str = "default";
/// The first address of the service range.
const CLUSTER_IP: &str = "10.43.0.1";

/// Makes the Service, Endpoints and EndpointSlice say that the API is at `address:port`.
pub(crate) async fn reconcile(store: &dyn Store, address: IpAddr, port: u16) -> ApiResult<()> {
    let family = if address.is_ipv4() { "IPv4" } else { "IPv6" };
    let wanted = [
        (
            ("", "services"),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": CLUSTER_IP, "clusterIPs": [CLUSTER_IP],
                    "ipFamilies": [family], "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                    "internalTrafficPolicy": "Cluster",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}}),
        ),
        (
            ("", "endpoints"),
            json!({"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                "subsets": [{"addresses": [{"ip": address.to_string()}],
                    "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}),
        ),
        (
            ("discovery.k8s.io", "endpointslices"),
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"labels": {"kubernetes.io/service-name": NAME, "endpointslice.kubernetes.io/managed-by": "tug-apiserver"}},
                "addressType": family,
                "endpoints": [{"addresses": [address.to_string()], "conditions": {"ready": true, "serving": true, "terminating": false}}],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}),
        ),
    ];
    for ((group, plural), mut object) in wanted {
        let rt = tug_api::registry::find(group, "v1", plural)
            .ok_or_else(|| ApiError::internal(format!("{plural} are not registered")))?;
        let key = rt.key(Some(NAMESPACE), NAME);
        object["metadata"]["name"] = json!(NAME);
        object["metadata"]["namespace"] = json!(NAMESPACE);
        match store.get(&key).await? {
            None => {
                object["metadata"]["uid"] = json!(crate::object::new_uid());
                object["metadata"]["creationTimestamp"] = json!(crate::object::now());
                match store.create(&key, to_bytes(rt, &object), None).await {
                    Ok(_) | Err(tug_store::Error::AlreadyExists { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Some(kv) => {
                let current = from_kv(rt, &kv)?;
                let mut updated = current.clone();
                for (field, value) in object.as_object().into_iter().flatten().filter(|(f, _)| *f != "metadata") {
                    updated[field] = merged(&current[field], value);
                }
                if updated != current {
                    store.update(&key, to_bytes(rt, &updated), kv.mod_revision, None).await?;
                }
            }
        }
    }
    Ok(())
}

/// `wanted` with what a user or a default added to `current`'s Service spec kept (only
/// the fields this module owns are replaced).
fn merged(current: &Value, wanted: &Value) -> Value {
    match (current, wanted) {
        (Value::Object(current), Value::Object(wanted)) => {
            let mut out = current.clone();
            for (k, v) in wanted {
                out.insert(k.clone(), v.clone());
            }
            Value::Object(out)
        }
        _ => wanted.clone(),
    }
}
