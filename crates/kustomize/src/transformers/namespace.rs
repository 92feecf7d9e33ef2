//! `namespace`: moves every namespaced resource into one namespace, with the
//! ServiceAccount subjects of role bindings that pointed at the default
//! namespace, and webhook service references.

use serde_json::Value;

use crate::error::Result;
use crate::fieldspec::{visit, split_path};
use crate::resource::{is_cluster_scoped, Resource};

pub fn set(resources: &mut [Resource], ns: &str) -> Result<()> {
    if ns.is_empty() {
        return Ok(());
    }
    for res in resources.iter_mut() {
        if !is_cluster_scoped(res.kind()) {
            res.set_namespace(ns);
        }
        match res.kind() {
            "RoleBinding" | "ClusterRoleBinding" => {
                if let Some(Value::Array(subjects)) = res.obj.get_mut("subjects") {
                    for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
                        let is_sa = s.get("kind").and_then(Value::as_str) == Some("ServiceAccount");
                        let old = s.get("namespace").and_then(Value::as_str).unwrap_or("");
                        if is_sa && (old.is_empty() || old == "default") {
                            s.insert("namespace".into(), Value::String(ns.into()));
                        }
                    }
                }
            }
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => {
                visit(&mut res.obj, &split_path("webhooks/clientConfig/service"), false, &mut |svc| {
                    if let Value::Object(m) = svc {
                        m.insert("namespace".into(), Value::String(ns.into()));
                    }
                    Ok(())
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}
