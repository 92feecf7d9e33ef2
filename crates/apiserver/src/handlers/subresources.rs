//! The `scale` subresource (an `autoscaling/v1` Scale view of a workload's
//! `spec.replicas`) and a pod's `binding` (the scheduler's answer: which node
//! runs it). (The `status` subresource is [`super::crud::replace`] with
//! [`super::crud::Part::Status`].)

use serde_json::{json, Value};
use tug_api::crd::{json_path, set_json_path, ScalePaths};
use tug_api::ResourceType;
use tug_store::KeyValue;

use crate::object::{self, from_kv, meta_str};
use crate::status::{ApiError, ApiResult};

/// The default scale paths of the built-in workloads.
fn builtin_paths() -> ScalePaths {
    ScalePaths {
        spec_replicas: ".spec.replicas".into(),
        status_replicas: ".status.replicas".into(),
        label_selector: None,
    }
}

/// The Scale of a stored workload; a custom kind's replicas and selector are where its
/// definition's scale paths say (`paths`).
pub fn scale_of(object: &Value, paths: Option<&ScalePaths>) -> Value {
    let builtin = builtin_paths();
    let custom = paths.is_some();
    let paths = paths.unwrap_or(&builtin);
    let replicas = |path: &str| json_path(object, path).and_then(Value::as_i64).unwrap_or(0);
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
    let builtin_selector = object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        });
    let selector = match &paths.label_selector {
        Some(path) => json_path(object, path).and_then(Value::as_str).map(str::to_string),
        None if custom => None,
        None => builtin_selector,
    };
    let mut status = json!({"replicas": replicas(&paths.status_replicas)});
    if let Some(selector) = selector {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
        "spec": {"replicas": replicas(&paths.spec_replicas)},
        "status": status,
    })
}

/// The workload with the replicas a Scale asks for; 409 if the Scale is stale.
pub fn apply_scale(rt: &ResourceType, current: &KeyValue, scale: &Value, paths: Option<&ScalePaths>) -> ApiResult<Value> {
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
    let path = paths.map_or(".spec.replicas", |p| p.spec_replicas.as_str());
    set_json_path(&mut object, path, json!(replicas));
    Ok(object)
}

/// The pod bound to the node a `Binding` names: `spec.nodeName` set and the
/// `PodScheduled` condition true. 409 if the pod is already bound or being deleted.
pub fn bind(rt: &ResourceType, current: &KeyValue, binding: &Value) -> ApiResult<Value> {
    let mut pod = from_kv(rt, current)?;
    let name = meta_str(&pod, "name").unwrap_or_default().to_string();
    if let Some(bound) = meta_str(binding, "name").filter(|b| *b != name) {
        return Err(ApiError::bad_request(format!(
            "the name of the Binding ({bound}) does not match the pod's name on the URL ({name})"
        )));
    }
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::unprocessable(format!(
                "Binding.v1 \"{name}\" is invalid: target.name: Required value: the node to bind pod {name} to"
            ))
        })?;
    match binding.pointer("/target/kind").and_then(Value::as_str) {
        None | Some("" | "Node") => {}
        Some(kind) => {
            return Err(ApiError::unprocessable(format!(
                "Binding.v1 \"{name}\" is invalid: target.kind: Unsupported value: \"{kind}\": supported values: \"Node\""
            )))
        }
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(ApiError::conflict(
            rt,
            &name,
            &format!("pod {name} is being deleted, cannot be assigned to a host"),
        ));
    }
    if let Some(assigned) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(ApiError::conflict(
            rt,
            &name,
            &format!("pod {name} is already assigned to node \"{assigned}\""),
        ));
    }
    pod["spec"]["nodeName"] = json!(node);
    let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": object::now()});
    let status = pod
        .as_object_mut()
        .ok_or_else(|| ApiError::internal("a stored pod is not an object"))?
        .entry("status")
        .or_insert_with(|| json!({}));
    if !status.is_object() {
        *status = json!({});
    }
    let conditions = status
        .as_object_mut()
        .ok_or_else(|| ApiError::internal("a stored pod's status is not an object"))?
        .entry("conditions")
        .or_insert_with(|| json!([]));
    match conditions.as_array_mut() {
        Some(list) => {
            list.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
            list.push(scheduled);
        }
        None => *conditions = json!([scheduled]),
    }
    object::meta_mut(&mut pod).remove("resourceVersion");
    Ok(pod)
}
