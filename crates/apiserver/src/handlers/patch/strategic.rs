//! Strategic merge patch, as `kubectl apply`, `kubectl patch` and
//! controllers send it: maps merge as in a merge patch, but lists of the
//! real types merge element by element on their merge key (containers by
//! name, container ports by containerPort, volumeMounts by mountPath…), and
//! the directives `$patch` (replace, delete, merge), `$retainKeys`,
//! `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>` apply.
//! How each list merges is read from the type's schema (`tug_api::schema`), walked
//! alongside the object; lists the schema does not mark are replaced whole, as in Kubernetes.

use serde_json::{Map, Value};
use tug_api::schema::{Node, PatchStrategy};

use super::PatchError;

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// How the list `field` of the structure `node` merges; unknown lists are replaced.
fn strategy<'s>(node: Option<Node<'s>>, field: &str) -> PatchStrategy<'s> {
    node.and_then(|n| n.field(field)).map_or(PatchStrategy::Replace, Node::patch_strategy)
}

/// Applies `patch` to `original`, an object whose type's schema is `root` (`None` for types
/// without one: their lists are replaced).
pub fn apply(original: &Value, patch: &Value, root: Option<Node<'_>>) -> Result<Value, PatchError> {
    let patch = patch
        .as_object()
        .ok_or_else(|| PatchError("a strategic merge patch must be an object".into()))?;
    let mut result = original.as_object().cloned().unwrap_or_default();
    merge_map(&mut result, patch, "", root)?;
    Ok(Value::Object(result))
}

fn merge_map(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    this_field: &str,
    node: Option<Node<'_>>,
) -> Result<(), PatchError> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *original = strip(patch);
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(PatchError(format!(
                "unknown $patch directive {other:?} in {this_field:?}"
            )))
        }
    }
    for (key, value) in patch {
        if key.starts_with('$') {
            if let Some(field) = key.strip_prefix(DELETE_PRIMITIVE) {
                let drop = value.as_array().cloned().unwrap_or_default();
                if let Some(Value::Array(list)) = original.get_mut(field) {
                    list.retain(|v| !drop.contains(v));
                }
            }
            continue;
        }
        let child_node = node.and_then(|n| n.field(key));
        match value {
            Value::Null => {
                original.remove(key);
            }
            Value::Object(child)
                if child.get("$patch").and_then(Value::as_str) == Some("delete") =>
            {
                original.remove(key);
            }
            Value::Object(child) => match original.get_mut(key) {
                Some(Value::Object(existing)) => merge_map(existing, child, key, child_node)?,
                _ => {
                    original.insert(key.clone(), Value::Object(strip(child)));
                }
            },
            Value::Array(items) => {
                let merged = match (original.get(key), strategy(node, key)) {
                    (Some(Value::Array(existing)), PatchStrategy::MergeKey(merge_key)) => {
                        merge_list(existing, items, merge_key, key, child_node.and_then(Node::items))?
                    }
                    (Some(Value::Array(existing)), PatchStrategy::Set) => {
                        let mut set = existing.clone();
                        set.extend(items.iter().filter(|v| !existing.contains(v)).cloned());
                        set
                    }
                    _ => replace_list(items),
                };
                original.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                original.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (key, order) in patch {
        if let (Some(field), Value::Array(order)) = (key.strip_prefix(SET_ORDER), order) {
            if let Some(Value::Array(list)) = original.get_mut(field) {
                reorder(list, order, strategy(node, field));
            }
        }
    }
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        original.retain(|k, _| keep.iter().any(|r| r.as_str() == Some(k)));
    }
    Ok(())
}

/// Merges a patch list into `existing` on `merge_key`; `items` is the elements' schema.
fn merge_list(
    existing: &[Value],
    patch: &[Value],
    merge_key: &str,
    field: &str,
    items: Option<Node<'_>>,
) -> Result<Vec<Value>, PatchError> {
    if patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(patch
            .iter()
            .filter(|p| p.get("$patch").is_none())
            .filter_map(Value::as_object)
            .map(|p| Value::Object(strip(p)))
            .collect());
    }
    let mut result: Vec<Value> = existing.to_vec();
    for item in patch {
        let Some(fields) = item.as_object() else {
            return Err(PatchError(format!(
                "{field}: expected an object in a list merged on {merge_key:?}, got {item}"
            )));
        };
        let key_value = fields.get(merge_key).ok_or_else(|| {
            PatchError(format!(
                "{field}: an element has no merge key {merge_key:?}"
            ))
        })?;
        let position = result
            .iter()
            .position(|e| e.get(merge_key) == Some(key_value));
        if fields.get("$patch").and_then(Value::as_str) == Some("delete") {
            result.retain(|e| e.get(merge_key) != Some(key_value));
            continue;
        }
        match position.and_then(|i| result.get_mut(i)) {
            Some(Value::Object(target)) => merge_map(target, fields, field, items)?,
            _ => result.push(Value::Object(strip(fields))),
        }
    }
    Ok(result)
}

fn replace_list(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .map(|v| match v {
            Value::Object(o) => Value::Object(strip(o)),
            other => other.clone(),
        })
        .collect()
}

/// Orders `list` as `order` names its elements (by merge key, or by value); the rest keep their place after.
fn reorder(list: &mut Vec<Value>, order: &[Value], strategy: PatchStrategy<'_>) {
    let rank = |v: &Value| {
        order.iter().position(|o| match strategy {
            PatchStrategy::MergeKey(k) => o.get(k).is_some() && o.get(k) == v.get(k),
            _ => o == v,
        })
    };
    let mut ranked: Vec<(usize, usize, Value)> = list
        .drain(..)
        .enumerate()
        .map(|(i, v)| (rank(&v).unwrap_or(usize::MAX), i, v))
        .collect();
    ranked.sort_by_key(|(r, i, _)| (*r, *i));
    list.extend(ranked.into_iter().map(|(_, _, v)| v));
}

/// A patch fragment without its directives, as it is stored when it adds a new value.
fn strip(fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let v = match v {
                Value::Object(o) => Value::Object(strip(o)),
                Value::Array(items) => Value::Array(replace_list(items)),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn apply(original: &Value, patch: &Value) -> Result<Value, PatchError> {
        super::apply(original, patch, tug_api::schema::builtin_kind("apps", "v1", "Deployment"))
    }

    fn apply_service(original: &Value, patch: &Value) -> Result<Value, PatchError> {
        super::apply(original, patch, tug_api::schema::builtin_kind("", "v1", "Service"))
    }

    fn deployment(containers: Value) -> Value {
        json!({"spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn containers_merge_by_name_and_ports_by_container_port() {
        let original = deployment(json!([
            {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80, "protocol": "TCP"}], "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "busybox"}
        ]));
        let patch = deployment(json!([
            {"name": "web", "image": "nginx:2", "ports": [{"containerPort": 443}], "env": [{"name": "B", "value": "2"}]}
        ]));
        let result = apply(&original, &patch).unwrap();
        let c = &result["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["image"], "nginx:2");
        assert_eq!(
            c[0]["ports"],
            json!([{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}])
        );
        assert_eq!(
            c[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(c[1]["name"], "side");
    }

    #[test]
    fn directives_delete_replace_and_order() {
        let original =
            deployment(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]));
        let delete = deployment(json!([{"name": "a", "$patch": "delete"}]));
        assert_eq!(
            apply(&original, &delete).unwrap(),
            deployment(json!([{"name": "b", "image": "y"}]))
        );
        let replace = deployment(json!([{"name": "c", "image": "z"}, {"$patch": "replace"}]));
        assert_eq!(
            apply(&original, &replace).unwrap(),
            deployment(json!([{"name": "c", "image": "z"}]))
        );
        let order = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}], "containers": [{"name": "a", "image": "x2"}]}}}});
        assert_eq!(
            apply(&original, &order).unwrap(),
            deployment(json!([{"name": "b", "image": "y"}, {"name": "a", "image": "x2"}]))
        );
    }

    #[test]
    fn lists_without_merge_keys_replace_and_maps_delete_with_null() {
        let original = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x"]}, "spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["1", "2"]}]}}}});
        let patch = json!({"metadata": {"labels": {"a": null}, "finalizers": ["y"]}, "spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["3"]}]}}}});
        let result = apply(&original, &patch).unwrap();
        assert_eq!(result["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(result["metadata"]["finalizers"], json!(["x", "y"]));
        assert_eq!(
            result["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["3"])
        );
        let removal = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}});
        assert_eq!(
            apply(&result, &removal).unwrap()["metadata"]["finalizers"],
            json!(["y"])
        );
    }

    #[test]
    fn service_ports_merge_by_port_and_retain_keys_prunes() {
        let original = json!({"spec": {"ports": [{"port": 80, "name": "http"}], "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let patch = json!({"spec": {"ports": [{"port": 443, "name": "https"}], "strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let result = apply_service(&original, &patch).unwrap();
        assert_eq!(result["spec"]["ports"].as_array().unwrap().len(), 2);
        assert_eq!(result["spec"]["strategy"], json!({"type": "Recreate"}));
    }
}
