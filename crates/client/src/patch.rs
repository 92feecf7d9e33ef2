//! Client-side apply's patch: kubectl's three-way strategic merge patch. From the
//! last-applied configuration (`original`), the new configuration (`modified`) and the
//! live object (`current`): fields the configuration sets that differ from the live object
//! are set; fields the previous configuration set and the new one dropped are deleted.
//! Lists merge by the `x-kubernetes-patch-merge-key` of the OpenAPI schema (containers by
//! name…), with `$patch: delete` for removed elements and `$setElementOrder` for order;
//! lists of scalars with strategy `merge` use `$deleteFromPrimitiveList`. Without a schema
//! (custom resources) every list is atomic and the result is a valid JSON merge patch.

use serde_json::{Map, Value};

/// The OpenAPI v3 schemas of one group/version, as the server serves them.
#[derive(Debug, Clone, Default)]
pub struct Schemas {
    schemas: Map<String, Value>,
}

/// A position in a schema (resolving `$ref` and `allOf`).
#[derive(Clone, Copy)]
pub struct Node<'a> {
    schemas: &'a Schemas,
    schema: Option<&'a Value>,
}

impl Schemas {
    pub fn new(doc: &Value) -> Schemas {
        Schemas {
            schemas: doc
                .pointer("/components/schemas")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The schema of a kind, found by its `x-kubernetes-group-version-kind`.
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<Node<'_>> {
        let s = self.schemas.values().find(|s| {
            s.get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .is_some_and(|gvks| {
                    gvks.iter().any(|g| {
                        g["group"].as_str().unwrap_or("") == group
                            && g["version"] == version
                            && g["kind"] == kind
                    })
                })
        })?;
        Some(
            Node {
                schemas: self,
                schema: Some(s),
            }
            .resolve(),
        )
    }
}

impl<'a> Node<'a> {
    fn none(schemas: &'a Schemas) -> Node<'a> {
        Node {
            schemas,
            schema: None,
        }
    }

    fn resolve(self) -> Node<'a> {
        let mut s = self.schema;
        for _ in 0..8 {
            let Some(v) = s else { break };
            if let Some(r) = v.get("$ref").and_then(Value::as_str) {
                s = self.schemas.schemas.get(r.rsplit('/').next().unwrap_or(""));
            } else if let Some(first) = v
                .get("allOf")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
            {
                s = Some(first);
            } else {
                break;
            }
        }
        Node {
            schemas: self.schemas,
            schema: s,
        }
    }

    fn property(self, name: &str) -> (Node<'a>, Option<&'a Value>) {
        let prop = self
            .schema
            .and_then(|s| s.get("properties"))
            .and_then(|p| p.get(name));
        (
            Node {
                schemas: self.schemas,
                schema: prop,
            }
            .resolve(),
            prop,
        )
    }

    fn items(self) -> Node<'a> {
        Node {
            schemas: self.schemas,
            schema: self.schema.and_then(|s| s.get("items")),
        }
        .resolve()
    }

    fn additional(self) -> Node<'a> {
        match self.schema.and_then(|s| s.get("additionalProperties")) {
            Some(a) if a.is_object() => Node {
                schemas: self.schemas,
                schema: Some(a),
            }
            .resolve(),
            _ => Node::none(self.schemas),
        }
    }

    /// The child schema for `key` of an object: a declared property or a map value.
    fn child(self, key: &str) -> (Node<'a>, Option<&'a Value>) {
        let (n, raw) = self.property(key);
        if raw.is_some() {
            (n, raw)
        } else {
            (self.additional(), None)
        }
    }
}

enum ListKind<'a> {
    Atomic,
    Keyed(&'a str),
    Set,
}

fn list_kind(raw: Option<&Value>) -> ListKind<'_> {
    let Some(raw) = raw else {
        return ListKind::Atomic;
    };
    let strategy = raw
        .get("x-kubernetes-patch-strategy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !strategy.split(',').any(|s| s == "merge") {
        return ListKind::Atomic;
    }
    match raw
        .get("x-kubernetes-patch-merge-key")
        .and_then(Value::as_str)
    {
        Some(k) => ListKind::Keyed(k),
        None => ListKind::Set,
    }
}

/// The three-way patch. `schema` is `None` for a JSON merge patch (no list merging).
pub fn three_way(
    original: Option<&Value>,
    modified: &Value,
    current: &Value,
    schema: Option<Node<'_>>,
) -> Value {
    let empty = Schemas::default();
    let node = schema.unwrap_or(Node::none(&empty));
    let strategic = schema.is_some();
    let empty_map = Map::new();
    Value::Object(diff_map(
        original.and_then(Value::as_object),
        modified.as_object().unwrap_or(&empty_map),
        current.as_object().unwrap_or(&empty_map),
        node,
        strategic,
    ))
}

fn diff_map(
    original: Option<&Map<String, Value>>,
    modified: &Map<String, Value>,
    current: &Map<String, Value>,
    node: Node<'_>,
    strategic: bool,
) -> Map<String, Value> {
    let mut patch = Map::new();
    for (k, mv) in modified {
        let cv = current.get(k);
        let ov = original.and_then(|o| o.get(k));
        let (child, raw) = node.child(k);
        match (mv, cv) {
            (Value::Object(mm), Some(Value::Object(cm))) => {
                let sub = diff_map(ov.and_then(Value::as_object), mm, cm, child, strategic);
                if !sub.is_empty() {
                    patch.insert(k.clone(), Value::Object(sub));
                }
            }
            (Value::Array(ma), Some(Value::Array(ca))) if strategic => {
                let oa = ov.and_then(Value::as_array);
                match list_kind(raw) {
                    ListKind::Atomic => {
                        if ma != ca {
                            patch.insert(k.clone(), mv.clone());
                        }
                    }
                    ListKind::Keyed(key) => {
                        diff_keyed(k, key, oa, ma, ca, child.items(), &mut patch)
                    }
                    ListKind::Set => {
                        let added: Vec<Value> =
                            ma.iter().filter(|x| !ca.contains(x)).cloned().collect();
                        let removed: Vec<Value> = oa
                            .into_iter()
                            .flatten()
                            .filter(|x| !ma.contains(x) && ca.contains(x))
                            .cloned()
                            .collect();
                        if !added.is_empty() {
                            patch.insert(k.clone(), Value::Array(added));
                        }
                        if !removed.is_empty() {
                            patch.insert(
                                format!("$deleteFromPrimitiveList/{k}"),
                                Value::Array(removed),
                            );
                        }
                        if !patch.contains_key(k)
                            && !patch.contains_key(&format!("$deleteFromPrimitiveList/{k}"))
                        {
                            continue;
                        }
                        let order_differs = ma
                            .iter()
                            .filter(|x| ca.contains(x))
                            .ne(ca.iter().filter(|x| ma.contains(x)));
                        if order_differs || patch.contains_key(k) {
                            patch.insert(format!("$setElementOrder/{k}"), Value::Array(ma.clone()));
                        }
                    }
                }
            }
            _ => {
                if cv != Some(mv) {
                    patch.insert(k.clone(), mv.clone());
                }
            }
        }
    }
    if let Some(o) = original {
        for k in o.keys() {
            if !modified.contains_key(k) && current.contains_key(k) {
                patch.insert(k.clone(), Value::Null);
            }
        }
    }
    patch
}

fn key_of<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.as_object().and_then(|m| m.get(key))
}

fn diff_keyed(
    field: &str,
    key: &str,
    original: Option<&Vec<Value>>,
    modified: &[Value],
    current: &[Value],
    item: Node<'_>,
    patch: &mut Map<String, Value>,
) {
    let mut list = Vec::new();
    for m in modified {
        let Some(kv) = key_of(m, key) else {
            // An element without its merge key cannot be merged; replace the list.
            patch.insert(field.to_string(), Value::Array(modified.to_vec()));
            return;
        };
        let c = current.iter().find(|c| key_of(c, key) == Some(kv));
        let o = original
            .into_iter()
            .flatten()
            .find(|o| key_of(o, key) == Some(kv));
        match (m.as_object(), c.and_then(Value::as_object)) {
            (Some(mm), Some(cm)) => {
                let mut sub = diff_map(o.and_then(Value::as_object), mm, cm, item, true);
                if !sub.is_empty() {
                    sub.insert(key.to_string(), kv.clone());
                    list.push(Value::Object(sub));
                }
            }
            _ => list.push(m.clone()),
        }
    }
    for o in original.into_iter().flatten() {
        let Some(kv) = key_of(o, key) else { continue };
        let in_modified = modified.iter().any(|m| key_of(m, key) == Some(kv));
        let in_current = current.iter().any(|c| key_of(c, key) == Some(kv));
        if !in_modified && in_current {
            let mut d = Map::new();
            d.insert(key.to_string(), kv.clone());
            d.insert("$patch".into(), Value::String("delete".into()));
            list.push(Value::Object(d));
        }
    }
    let modified_keys: Vec<&Value> = modified.iter().filter_map(|m| key_of(m, key)).collect();
    let current_order: Vec<&Value> = current
        .iter()
        .filter_map(|c| key_of(c, key))
        .filter(|k| modified_keys.contains(k))
        .collect();
    let order_changed = modified_keys
        .iter()
        .filter(|k| current_order.contains(k))
        .ne(current_order.iter());
    if list.is_empty() && !order_changed {
        return;
    }
    if !list.is_empty() {
        patch.insert(field.to_string(), Value::Array(list));
    }
    let order: Vec<Value> = modified_keys
        .into_iter()
        .map(|k| {
            let mut m = Map::new();
            m.insert(key.to_string(), k.clone());
            Value::Object(m)
        })
        .collect();
    patch.insert(format!("$setElementOrder/{field}"), Value::Array(order));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> Schemas {
        Schemas::new(&json!({"components": {"schemas": {
            "D": {"x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}],
                  "properties": {"spec": {"allOf": [{"$ref": "#/components/schemas/S"}]}, "metadata": {"$ref": "#/components/schemas/M"}}},
            "M": {"properties": {"finalizers": {"type": "array", "x-kubernetes-patch-strategy": "merge", "items": {"type": "string"}}}},
            "S": {"properties": {"containers": {"type": "array", "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name",
                   "items": {"$ref": "#/components/schemas/C"}}, "args": {"type": "array"}}},
            "C": {"properties": {"name": {"type": "string"}}}
        }}}))
    }

    #[test]
    fn three_way_strategic() {
        let s = schemas();
        let node = s.kind("apps", "v1", "Deployment");
        assert!(node.is_some());
        let original = json!({"metadata": {"labels": {"a": "1", "gone": "x"}}, "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "old", "image": "o"}], "args": ["x"]}});
        let modified = json!({"metadata": {"labels": {"a": "2"}}, "spec": {"containers": [{"name": "a", "image": "2"}, {"name": "new", "image": "n"}], "args": ["x"]}});
        let current = json!({"metadata": {"labels": {"a": "1", "gone": "x", "other": "y"}, "uid": "u"},
            "spec": {"containers": [{"name": "a", "image": "1", "imagePullPolicy": "Always"}, {"name": "old", "image": "o"}], "args": ["x"]}, "status": {}});
        let p = three_way(Some(&original), &modified, &current, node);
        assert_eq!(
            p,
            json!({
                "metadata": {"labels": {"a": "2", "gone": null}},
                "spec": {"containers": [{"name": "a", "image": "2"}, {"name": "new", "image": "n"}, {"name": "old", "$patch": "delete"}],
                         "$setElementOrder/containers": [{"name": "a"}, {"name": "new"}]}
            })
        );
        // Nothing changed: an empty patch.
        assert_eq!(
            three_way(Some(&modified), &modified, &modified, node),
            json!({})
        );
    }

    #[test]
    fn merge_patch_without_schema() {
        let original = json!({"spec": {"list": [1, 2], "x": 1}});
        let modified = json!({"spec": {"list": [1]}});
        let current = json!({"spec": {"list": [1, 2], "x": 1, "y": 2}});
        assert_eq!(
            three_way(Some(&original), &modified, &current, None),
            json!({"spec": {"list": [1], "x": null}})
        );
    }
}
