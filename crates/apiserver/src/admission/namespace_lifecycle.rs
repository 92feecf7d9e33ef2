//! NamespaceLifecycle: nothing is created in a namespace that does not exist or is being
//! deleted (Events excepted, so the deletion can be reported), and the namespaces every
//! cluster needs cannot be deleted.

use serde_json::Value;

use super::{get, Admit, Operation, Plugin, Request, Review};
use crate::status::ApiError;

/// The namespaces that may never be deleted.
const IMMORTAL: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

pub struct NamespaceLifecycle;

impl Plugin for NamespaceLifecycle {
    fn name(&self) -> &'static str {
        "NamespaceLifecycle"
    }

    fn mutate<'a>(
        &'a self,
        request: &'a Request<'a>,
        _object: &'a mut Value,
        _review: &'a mut Review,
    ) -> Admit<'a> {
        Box::pin(async move {
            let (Operation::Create, Some(ns)) = (request.operation, request.namespace) else {
                return Ok(());
            };
            let Some(namespace) = get(request.store, "", "namespaces", None, ns).await? else {
                return Err(ApiError::namespace_not_found(ns));
            };
            let terminating = namespace.pointer("/metadata/deletionTimestamp").is_some()
                || namespace.pointer("/status/phase").and_then(Value::as_str)
                    == Some("Terminating");
            if terminating && !request.is("", "Event") && !request.is("events.k8s.io", "Event") {
                let mut e = request.forbidden(format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ));
                if let Some(details) = e.details.as_mut() {
                    details["causes"] = serde_json::json!([{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]);
                }
                return Err(e);
            }
            Ok(())
        })
    }

    fn validate<'a>(
        &'a self,
        request: &'a Request<'a>,
        _object: &'a Value,
        _review: &'a mut Review,
    ) -> Admit<'a> {
        Box::pin(async move {
            if request.operation == Operation::Delete
                && request.is("", "Namespace")
                && IMMORTAL.contains(&request.name)
            {
                return Err(request.forbidden("this namespace may not be deleted"));
            }
            Ok(())
        })
    }
}
