//! Sets of field paths, as server-side apply tracks ownership: each path element is spelled
//! as in `FieldsV1` (`f:<field>`, `k:{"name":"c"}` for an element of a list keyed by
//! `x-kubernetes-list-map-keys`, `v:<json>` for an element of a set, `i:<index>` otherwise),
//! and a set is a sorted collection of paths. The set of an object follows the type's schema:
//! every scalar, every atomic list or structure, every empty or null value, every element of
//! a keyed list or set is a member; structures are reached through their fields.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use tug_api::schema::{ListType, Node, Shape};

/// A path from the object's root, one `FieldsV1` element per step.
pub type Path = Vec<String>;

/// The paths a manager owns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(pub BTreeSet<Path>);

impl FieldSet {
    /// The set of `object` under the schema `root`. With `maps_as_members`, granular maps
    /// (labels, annotations) are members too, as an update records them.
    pub fn of(object: &Value, root: Option<Node<'_>>, maps_as_members: bool) -> FieldSet {
        let mut set = FieldSet::default();
        walk(object, root, &mut Vec::new(), &mut set.0, maps_as_members);
        set
    }

    pub fn contains(&self, path: &Path) -> bool {
        self.0.contains(path)
    }

    /// Whether `path` or anything under it is in the set.
    pub fn covers(&self, path: &Path) -> bool {
        self.0.range(path.clone()..).next().is_some_and(|p| p.starts_with(path))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Drops the paths starting with any of `prefixes`.
    pub fn without_prefixes(mut self, prefixes: &[Path]) -> FieldSet {
        self.0.retain(|p| !prefixes.iter().any(|prefix| p.starts_with(prefix)));
        self
    }

    /// Keeps only the paths starting with `prefix`.
    pub fn only_under(mut self, prefix: &Path) -> FieldSet {
        self.0.retain(|p| p.starts_with(prefix));
        self
    }

    /// The set as a `FieldsV1` object: `{"f:spec":{"f:replicas":{}}}`, `".": {}` marking a
    /// member that also has members below it.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for path in &self.0 {
            let mut node = &mut root;
            for element in path {
                node = node.entry(element.clone()).or_insert_with(|| Value::Object(Map::new())).as_object_mut().expect("only objects are inserted");
            }
        }
        // A member with children gets ".".
        for path in &self.0 {
            let mut node = &mut root;
            for element in path {
                node = node.get_mut(element).and_then(Value::as_object_mut).expect("inserted above");
            }
            if !node.is_empty() {
                node.insert(".".into(), Value::Object(Map::new()));
            }
        }
        Value::Object(root)
    }

    /// Reads a `FieldsV1` object; `None` if it is not one.
    pub fn from_fields_v1(fields: &Value) -> Option<FieldSet> {
        fn read(node: &Map<String, Value>, path: &mut Path, out: &mut BTreeSet<Path>) -> Option<()> {
            for (element, child) in node {
                if element == "." {
                    out.insert(path.clone());
                    continue;
                }
                let child = child.as_object()?;
                path.push(element.clone());
                if child.is_empty() {
                    out.insert(path.clone());
                } else {
                    read(child, path, out)?;
                }
                path.pop();
            }
            Some(())
        }
        let mut set = BTreeSet::new();
        read(fields.as_object()?, &mut Vec::new(), &mut set)?;
        Some(FieldSet(set))
    }
}

/// `f:<name>`.
pub fn field(name: &str) -> String {
    format!("f:{name}")
}

fn walk(value: &Value, node: Option<Node<'_>>, path: &mut Path, out: &mut BTreeSet<Path>, maps_as_members: bool) {
    match value {
        Value::Object(fields) => {
            let shape = node.map_or(Shape::Struct, Node::shape);
            if node.is_some_and(Node::is_atomic_map) || fields.is_empty() {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
                return;
            }
            if maps_as_members && shape == Shape::Map {
                out.insert(path.clone());
            }
            for (name, child) in fields {
                path.push(field(name));
                if child.is_null() {
                    out.insert(path.clone());
                } else {
                    walk(child, node.and_then(|n| n.field(name)), path, out, maps_as_members);
                }
                path.pop();
            }
        }
        Value::Array(items) => match node.map_or(ListType::Atomic, Node::list_type) {
            ListType::Set => {
                for item in items {
                    path.push(format!("v:{item}"));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            ListType::Map(keys) => {
                let element_node = node.and_then(Node::items);
                let Some(elements) = items.iter().map(|item| key_element(item, &keys)).collect::<Option<Vec<String>>>() else {
                    out.insert(path.clone());
                    return;
                };
                for (item, element) in items.iter().zip(elements) {
                    path.push(element);
                    out.insert(path.clone());
                    walk(item, element_node, path, out, maps_as_members);
                    path.pop();
                }
            }
            ListType::Atomic => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// `k:{"containerPort":80,"protocol":"TCP"}` for an element of a list keyed by `keys` (key
/// fields in name order, as Kubernetes writes them); `None` when it lacks all of them.
pub fn key_element(item: &Value, keys: &[&str]) -> Option<String> {
    let fields = item.as_object()?;
    let mut sorted: Vec<&str> = keys.iter().copied().filter(|k| fields.contains_key(*k)).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_unstable();
    let parts: Vec<String> = sorted.iter().map(|k| format!("{}:{}", Value::String((*k).to_string()), fields[*k])).collect();
    Some(format!("k:{{{}}}", parts.join(",")))
}

/// Whether list element `item` is the one `element` (`k:`, `v:` or `i:`, at `index`) names.
fn matches(element: &str, item: &Value, index: usize) -> bool {
    if let Some(keys) = element.strip_prefix("k:") {
        let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(keys) else { return false };
        keys.iter().all(|(k, v)| item.get(k) == Some(v))
    } else if let Some(v) = element.strip_prefix("v:") {
        serde_json::from_str::<Value>(v).is_ok_and(|v| &v == item)
    } else {
        element.strip_prefix("i:").and_then(|i| i.parse::<usize>().ok()) == Some(index)
    }
}

/// The value at `path` in `object`.
pub fn get<'v>(object: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut value = object;
    for element in path {
        value = match (element.strip_prefix("f:"), value) {
            (Some(name), Value::Object(fields)) => fields.get(name)?,
            (None, Value::Array(items)) => items.iter().enumerate().find(|(i, item)| matches(element, item, *i))?.1,
            _ => return None,
        };
    }
    Some(value)
}

/// Removes the value at `path` from `object`, if there.
pub fn remove(object: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else { return };
    let mut value = object;
    for element in parent {
        value = match (element.strip_prefix("f:"), value) {
            (Some(name), Value::Object(fields)) => match fields.get_mut(name) {
                Some(v) => v,
                None => return,
            },
            (None, Value::Array(items)) => match items.iter_mut().enumerate().find(|(i, item)| matches(element, item, *i)) {
                Some((_, v)) => v,
                None => return,
            },
            _ => return,
        };
    }
    match (last.strip_prefix("f:"), value) {
        (Some(name), Value::Object(fields)) => {
            fields.remove(name);
        }
        (None, Value::Array(items)) => {
            let mut index = 0;
            items.retain(|item| {
                let keep = !matches(last, item, index);
                index += 1;
                keep
            });
        }
        _ => {}
    }
}

/// A path as Kubernetes prints it in conflicts: `.spec.template.spec.containers[name="web"].image`.
pub fn display(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(Ok(Value::Object(keys))) = element.strip_prefix("k:").map(serde_json::from_str::<Value>) {
            let parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = element.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        } else if let Some(i) = element.strip_prefix("i:") {
            out.push_str(&format!("[{i}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tug_api::schema::builtin_kind;

    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["x"]},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [
                    {"name": "c", "image": "nginx", "args": ["a", "b"], "ports": [{"containerPort": 80, "protocol": "TCP"}]}
                ]}}
            }
        })
    }

    #[test]
    fn object_set_follows_list_and_map_types() {
        let set = FieldSet::of(&deployment(), builtin_kind("apps", "v1", "Deployment"), false);
        let fields = set.to_fields_v1();
        let container = &fields["f:spec"]["f:template"]["f:spec"]["f:containers"][r#"k:{"name":"c"}"#];
        assert_eq!(container["."], json!({}));
        assert_eq!(container["f:args"], json!({}), "an atomic list is one member");
        assert_eq!(container["f:ports"][r#"k:{"containerPort":80,"protocol":"TCP"}"#]["f:protocol"], json!({}));
        assert_eq!(fields["f:spec"]["f:selector"], json!({}), "an atomic structure is one member");
        assert_eq!(fields["f:metadata"]["f:finalizers"], json!({r#"v:"x""#: {}}));
        assert_eq!(fields["f:metadata"]["f:labels"], json!({"f:app": {}}));
        assert_eq!(FieldSet::from_fields_v1(&fields), Some(set));
    }

    #[test]
    fn updates_own_granular_maps_themselves() {
        let set = FieldSet::of(&deployment(), builtin_kind("apps", "v1", "Deployment"), true);
        assert_eq!(set.to_fields_v1()["f:metadata"]["f:labels"], json!({".": {}, "f:app": {}}));
    }

    #[test]
    fn paths_find_remove_and_print_keyed_elements() {
        let mut d = deployment();
        let image: Path = ["f:spec", "f:template", "f:spec", "f:containers", r#"k:{"name":"c"}"#, "f:image"].map(String::from).to_vec();
        assert_eq!(get(&d, &image), Some(&json!("nginx")));
        assert_eq!(display(&image), r#".spec.template.spec.containers[name="c"].image"#);
        remove(&mut d, &image[..5]);
        assert_eq!(d["spec"]["template"]["spec"]["containers"], json!([]));
        let finalizer: Path = vec!["f:metadata".into(), "f:finalizers".into(), r#"v:"x""#.into()];
        assert_eq!(display(&finalizer), r#".metadata.finalizers[="x"]"#);
        remove(&mut d, &finalizer);
        assert_eq!(d["metadata"]["finalizers"], json!([]));
    }
}
