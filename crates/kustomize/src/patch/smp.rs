//! Strategic merge patch: maps merge field by field, `null` deletes a field,
//! lists merge by their merge key (see [`super::schema`]), and the directives
//! `$patch: replace|delete|merge`, `$setElementOrder/<list>`, `$retainKeys`
//! and `$deleteFromPrimitiveList/<list>` do what Kubernetes does with them.

use serde_json::{Map, Value};

use super::schema::{ListStrategy, MergeSchema};

/// What the patch asked for at the top level.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Patched,
    /// The patch says `$patch: delete`: the whole object goes.
    Deleted,
}

/// The object being patched and how its lists merge.
pub struct Context<'a> {
    pub schema: &'a MergeSchema,
    pub group: &'a str,
    pub kind: &'a str,
}

const PATCH: &str = "$patch";
const ORDER_PREFIX: &str = "$setElementOrder/";
const DELETE_PRIMITIVE_PREFIX: &str = "$deleteFromPrimitiveList/";
const RETAIN_KEYS: &str = "$retainKeys";

/// Applies `patch` to `target`.
pub fn apply(target: &mut Value, patch: &Value, ctx: &Context) -> Outcome {
    if directive(patch) == Some("delete") {
        return Outcome::Deleted;
    }
    merge_value(target, patch, &mut Vec::new(), ctx);
    Outcome::Patched
}

fn directive(v: &Value) -> Option<&str> {
    v.get(PATCH).and_then(Value::as_str)
}

fn is_directive_key(k: &str) -> bool {
    k == PATCH || k == RETAIN_KEYS || k.starts_with(ORDER_PREFIX) || k.starts_with(DELETE_PRIMITIVE_PREFIX)
}

/// A patch value with every directive removed, as it is when added whole.
pub fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !is_directive_key(k))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|e| directive(e).is_none())
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_value(target: &mut Value, patch: &Value, path: &mut Vec<String>, ctx: &Context) {
    match patch {
        Value::Object(pm) => {
            if directive(patch) == Some("replace") || !target.is_object() {
                *target = strip_directives(patch);
                return;
            }
            let Value::Object(tm) = target else { return };
            merge_map(tm, pm, path, ctx);
        }
        Value::Array(items) => merge_list(target, items, path, ctx),
        other => *target = other.clone(),
    }
}

fn merge_map(tm: &mut Map<String, Value>, pm: &Map<String, Value>, path: &mut Vec<String>, ctx: &Context) {
    if let Some(keep) = pm.get(RETAIN_KEYS).and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        tm.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, pv) in pm {
        if is_directive_key(k) {
            continue;
        }
        if pv.is_null() || directive(pv) == Some("delete") {
            tm.remove(k);
            continue;
        }
        path.push(k.clone());
        match tm.get_mut(k) {
            Some(tv) if !tv.is_null() => merge_value(tv, pv, path, ctx),
            _ => {
                tm.insert(k.clone(), strip_directives(pv));
            }
        }
        path.pop();
    }
    for (k, pv) in pm {
        if let Some(field) = k.strip_prefix(DELETE_PRIMITIVE_PREFIX) {
            if let (Some(Value::Array(items)), Some(gone)) = (tm.get_mut(field), pv.as_array()) {
                items.retain(|i| !gone.contains(i));
            }
        }
    }
    for (k, pv) in pm {
        if let Some(field) = k.strip_prefix(ORDER_PREFIX) {
            if let (Some(Value::Array(items)), Some(order)) = (tm.get_mut(field), pv.as_array()) {
                reorder(items, order);
            }
        }
    }
}

/// Puts the elements named in `order` first, in that order; the others keep
/// their relative order after them.
fn reorder(items: &mut Vec<Value>, order: &[Value]) {
    let position = |item: &Value| -> usize {
        order
            .iter()
            .position(|o| match o {
                Value::Object(om) => om.iter().all(|(k, v)| item.get(k) == Some(v)),
                prim => prim == item,
            })
            .unwrap_or(order.len())
    };
    let mut keyed: Vec<(usize, Value)> = items.drain(..).map(|i| (position(&i), i)).collect();
    keyed.sort_by_key(|(p, _)| *p);
    items.extend(keyed.into_iter().map(|(_, v)| v));
}

fn merge_list(target: &mut Value, items: &[Value], path: &mut Vec<String>, ctx: &Context) {
    if items.iter().any(|i| directive(i) == Some("replace")) {
        *target = strip_directives(&Value::Array(items.to_vec()));
        return;
    }
    let Value::Array(existing) = target else {
        *target = strip_directives(&Value::Array(items.to_vec()));
        return;
    };
    match ctx.schema.list_strategy(ctx.group, ctx.kind, path, items) {
        ListStrategy::Replace => *target = strip_directives(&Value::Array(items.to_vec())),
        ListStrategy::Union => {
            for i in items {
                if !existing.contains(i) {
                    existing.push(i.clone());
                }
            }
        }
        ListStrategy::MergeKey(key) => {
            // As kustomize does: the patch's elements in patch order (merged
            // with their originals), then the originals the patch left alone.
            let mut originals: Vec<Option<Value>> = existing.drain(..).map(Some).collect();
            let mut merged = Vec::new();
            for item in items {
                let found = item.get(&key).and_then(|kv| {
                    originals
                        .iter()
                        .position(|o| o.as_ref().and_then(|o| o.get(&key)) == Some(kv))
                });
                let original = found.and_then(|i| originals[i].take());
                if directive(item) == Some("delete") {
                    continue;
                }
                match original {
                    Some(mut o) => {
                        merge_value(&mut o, item, path, ctx);
                        merged.push(o);
                    }
                    None => merged.push(strip_directives(item)),
                }
            }
            merged.extend(originals.into_iter().flatten());
            *existing = merged;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(target: &mut Value, p: Value) -> Outcome {
        let schema = MergeSchema::default();
        let ctx = Context { schema: &schema, group: "apps", kind: "Deployment" };
        apply(target, &p, &ctx)
    }

    fn deployment() -> Value {
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}],
             "ports": [{"containerPort": 80, "name": "http"}]},
            {"name": "side", "image": "side:1"}
        ]}}}})
    }

    #[test]
    fn containers_merge_by_name_and_env_by_name() {
        let mut d = deployment();
        patch(&mut d, json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}], "ports": [{"containerPort": 80, "protocol": "TCP"}]},
            {"name": "new", "image": "new:1"}
        ]}}}}));
        let c = &d["spec"]["template"]["spec"]["containers"];
        // Patch elements come first, in patch order; untouched originals follow.
        assert_eq!(c[0]["image"], "app:2");
        assert_eq!(c[0]["env"], json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]));
        assert_eq!(c[0]["ports"], json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}]));
        assert_eq!(c[1]["name"], "new");
        assert_eq!(c[2]["name"], "side");
    }

    #[test]
    fn patch_delete_removes_a_list_element_and_null_removes_a_field() {
        let mut d = deployment();
        patch(&mut d, json!({"spec": {"template": {"spec": {"containers": [
            {"name": "side", "$patch": "delete"},
            {"name": "app", "env": null}
        ]}}}}));
        assert_eq!(d["spec"]["template"]["spec"]["containers"], json!([
            {"name": "app", "image": "app:1", "ports": [{"containerPort": 80, "name": "http"}]}
        ]));
    }

    #[test]
    fn patch_replace_and_delete_whole_object() {
        let mut d = deployment();
        patch(&mut d, json!({"spec": {"template": {"spec": {"$patch": "replace", "containers": [{"name": "only"}]}}}}));
        assert_eq!(d["spec"]["template"]["spec"], json!({"containers": [{"name": "only"}]}));
        assert_eq!(patch(&mut d, json!({"$patch": "delete"})), Outcome::Deleted);
    }

    #[test]
    fn set_element_order_reorders_merged_list() {
        let mut d = deployment();
        patch(&mut d, json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
            "containers": [{"name": "app", "image": "app:3"}]
        }}}}));
        let c = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["name"], "side");
        assert_eq!(c[1]["image"], "app:3");
        assert_eq!(c.as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn lists_without_a_key_are_replaced() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["x", "y"]}]}}}});
        patch(&mut d, json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["z"]}]}}}}));
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["args"], json!(["z"]));
    }
}
