//! The `scale` subresource: an `autoscaling/v1` Scale view of a workload's
//! `spec.replicas`. (The `status` subresource is [`super::crud::replace`]
//! with [`super::crud::Part::Status`].)

use serde_json::{json, Value};
use tug_api::ResourceType;
use tug_store::KeyValue;

use crate::object::{from_kv, meta_str};
use crate::status::{ApiError, ApiResult};

/// The Scale of a stored workload.
pub fn scale_of(object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or(json!({}));
    let keep = [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ];
    let meta: serde_json::Map<String, Value> = meta
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| keep.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let selector = object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        });
    let mut status = json!({"replicas": object.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0)});
    if let Some(selector) = selector {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
        "spec": {"replicas": object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": status,
    })
}

/// The workload with the replicas a Scale asks for; 409 if the Scale is stale.
pub fn apply_scale(rt: &ResourceType, current: &KeyValue, scale: &Value) -> ApiResult<Value> {
    let mut object = from_kv(rt, current)?;
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("the Scale has no integer spec.replicas"))?;
    if replicas < 0 {
        return Err(ApiError::unprocessable(format!(
            "spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
        )));
    }
    if let Some(rv) = meta_str(scale, "resourceVersion") {
        if rv != current.mod_revision.to_string() {
            return Err(ApiError::stale(
                rt,
                meta_str(&object, "name").unwrap_or_default(),
            ));
        }
    }
    object["spec"]["replicas"] = json!(replicas);
    Ok(object)
}
