//! The shape of every served type, field by field: what a field holds (a structure, a map,
//! a list or a scalar), how a list merges (`x-kubernetes-list-type` atomic/set/map with its
//! `x-kubernetes-list-map-keys`, and the strategic-merge `x-kubernetes-patch-merge-key` /
//! `x-kubernetes-patch-strategy`) and whether a structure is one value
//! (`x-kubernetes-map-type: atomic`).
//!
//! This is the one place such questions are answered. The built-in schema is the OpenAPI
//! definitions generated from the `k8s-openapi` types with the list markers of the real Go
//! types ([`crate::openapi`]); a [`Schema`] can also read any Swagger 2.0 document with the
//! same extensions (kustomize's `openapi:` field). Strategic merge patch, server-side apply's
//! field sets and kustomize's patches all walk a [`Node`].

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

const REF_PREFIX: &str = "#/definitions/";

/// A set of definitions ("io.k8s.api.apps.v1.Deployment" → schema) to walk.
#[derive(Debug, Clone, Copy)]
pub struct Schema<'a> {
    defs: &'a Map<String, Value>,
}

impl Schema<'static> {
    /// The served types' schema.
    pub fn builtin() -> Self {
        Schema { defs: crate::openapi::definitions() }
    }
}

impl<'a> Schema<'a> {
    /// The definitions of a Swagger 2.0 document (`{"definitions": {...}}`); `None` if it has none.
    pub fn of_document(doc: &'a Value) -> Option<Self> {
        doc.get("definitions").and_then(Value::as_object).map(|defs| Schema { defs })
    }

    /// The root of the kind `group`/`version`/`kind` (group "" for core); any version when
    /// `version` is `None`.
    pub fn kind(self, group: &str, version: Option<&str>, kind: &str) -> Option<Node<'a>> {
        let matches = |gvk: &Value| {
            gvk.get("kind").and_then(Value::as_str) == Some(kind)
                && gvk.get("group").and_then(Value::as_str).unwrap_or("") == group
                && version.is_none_or(|v| gvk.get("version").and_then(Value::as_str) == Some(v))
        };
        let def = self.defs.values().find(|d| {
            d.get("x-kubernetes-group-version-kind").and_then(Value::as_array).is_some_and(|gvks| gvks.iter().any(matches))
        })?;
        Some(Node { schema: self, value: def })
    }

    fn resolve(self, mut value: &'a Value) -> &'a Value {
        // A bounded walk: a reference cycle made only of references is not a type.
        for _ in 0..16 {
            let Some(name) = value.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix(REF_PREFIX)) else {
                return value;
            };
            match self.defs.get(name) {
                Some(def) => value = def,
                None => return value,
            }
        }
        value
    }
}

/// The built-in root of a served kind (indexed once).
pub fn builtin_kind(group: &str, version: &str, kind: &str) -> Option<Node<'static>> {
    type Index = HashMap<(&'static str, &'static str, &'static str), &'static Value>;
    static ROOTS: OnceLock<Index> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| {
        let mut index = Index::new();
        for def in crate::openapi::definitions().values() {
            for gvk in def.get("x-kubernetes-group-version-kind").and_then(Value::as_array).into_iter().flatten() {
                let field = |f: &str| gvk.get(f).and_then(Value::as_str).unwrap_or("");
                index.insert((field("group"), field("version"), field("kind")), def);
            }
        }
        index
    });
    let value = roots.get(&(group, version, kind))?;
    Some(Node { schema: Schema::builtin(), value })
}

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A structure with named fields.
    Struct,
    /// A map from arbitrary keys to values of one type (`additionalProperties`).
    Map,
    List,
    /// A string, number, boolean, or a value the schema does not describe.
    Scalar,
}

/// How server-side apply treats a list (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType<'a> {
    /// Replaced as a whole; owned as a whole.
    Atomic,
    /// Scalars, each owned on its own (`v:<value>`).
    Set,
    /// Structures keyed by these fields, each owned on its own (`k:{...}`).
    Map(Vec<&'a str>),
}

/// How a strategic merge patch merges a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchStrategy<'a> {
    /// Structures matched on this field; unmatched patch elements are appended.
    MergeKey(&'a str),
    /// Scalars merged as a set.
    Set,
    /// The patch's list replaces the original.
    Replace,
}

/// One field's schema, with the document it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    schema: Schema<'a>,
    /// The schema as written where the field is declared (list extensions live here); `$ref`s
    /// are followed by [`Node::resolved`].
    value: &'a Value,
}

impl<'a> Node<'a> {
    fn resolved(self) -> &'a Value {
        self.schema.resolve(self.value)
    }

    fn at(self, value: &'a Value) -> Node<'a> {
        Node { schema: self.schema, value }
    }

    fn extension(self, name: &str) -> Option<&'a Value> {
        self.value.get(name).or_else(|| self.resolved().get(name))
    }

    pub fn shape(self) -> Shape {
        let def = self.resolved();
        match def.get("type").and_then(Value::as_str) {
            Some("array") => Shape::List,
            Some("object") if def.get("properties").is_some() => Shape::Struct,
            Some("object") if def.get("additionalProperties").is_some_and(Value::is_object) => Shape::Map,
            Some("object") => Shape::Struct,
            _ => Shape::Scalar,
        }
    }

    /// A field of a structure, or the value type of a map (whatever the key).
    pub fn field(self, name: &str) -> Option<Node<'a>> {
        let def = self.resolved();
        def.get("properties")
            .and_then(|p| p.get(name))
            .or_else(|| def.get("additionalProperties").filter(|v| v.is_object()))
            .map(|v| self.at(v))
    }

    /// The element type of a list.
    pub fn items(self) -> Option<Node<'a>> {
        self.resolved().get("items").map(|v| self.at(v))
    }

    /// The node at a path of field names, stepping into list elements on the way.
    pub fn path<S: AsRef<str>>(self, path: &[S]) -> Option<Node<'a>> {
        let mut node = self;
        for (i, segment) in path.iter().enumerate() {
            node = node.field(segment.as_ref())?;
            if i + 1 < path.len() && node.shape() == Shape::List {
                node = node.items()?;
            }
        }
        Some(node)
    }

    /// `x-kubernetes-list-type` (atomic when unmarked, as in Kubernetes).
    pub fn list_type(self) -> ListType<'a> {
        match self.extension("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                self.extension("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        }
    }

    /// Whether a structure or map is owned and replaced as one value (`x-kubernetes-map-type: atomic`).
    pub fn is_atomic_map(self) -> bool {
        self.extension("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
    }

    /// `x-kubernetes-patch-strategy` ("merge", "retainKeys", "merge,retainKeys").
    pub fn patch_strategy_marker(self) -> Option<&'a str> {
        self.extension("x-kubernetes-patch-strategy").and_then(Value::as_str)
    }

    /// How a strategic merge patch merges this list.
    pub fn patch_strategy(self) -> PatchStrategy<'a> {
        let key = self.extension("x-kubernetes-patch-merge-key").and_then(Value::as_str);
        match (key, self.patch_strategy_marker()) {
            (Some(k), _) => PatchStrategy::MergeKey(k),
            (None, Some(s)) if s.split(',').any(|s| s == "merge") => PatchStrategy::Set,
            _ => PatchStrategy::Replace,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_containers_are_a_map_keyed_by_name_and_merge_by_name() {
        let d = builtin_kind("apps", "v1", "Deployment").unwrap();
        let containers = d.path(&["spec", "template", "spec", "containers"]).unwrap();
        assert_eq!(containers.shape(), Shape::List);
        assert_eq!(containers.list_type(), ListType::Map(vec!["name"]));
        assert_eq!(containers.patch_strategy(), PatchStrategy::MergeKey("name"));
        let ports = containers.items().unwrap().field("ports").unwrap();
        assert_eq!(ports.list_type(), ListType::Map(vec!["containerPort", "protocol"]));
        assert_eq!(ports.patch_strategy(), PatchStrategy::MergeKey("containerPort"));
        let args = d.path(&["spec", "template", "spec", "containers", "args"]).unwrap();
        assert_eq!((args.list_type(), args.patch_strategy()), (ListType::Atomic, PatchStrategy::Replace));
    }

    #[test]
    fn maps_structs_sets_and_atomic_structures() {
        let d = builtin_kind("apps", "v1", "Deployment").unwrap();
        let labels = d.path(&["metadata", "labels"]).unwrap();
        assert_eq!(labels.shape(), Shape::Map);
        assert_eq!(labels.field("any/key").unwrap().shape(), Shape::Scalar);
        assert_eq!(d.path(&["spec"]).unwrap().shape(), Shape::Struct);
        let finalizers = d.path(&["metadata", "finalizers"]).unwrap();
        assert_eq!((finalizers.list_type(), finalizers.patch_strategy()), (ListType::Set, PatchStrategy::Set));
        assert!(d.path(&["spec", "selector"]).unwrap().is_atomic_map());
        assert!(!d.path(&["spec", "template"]).unwrap().is_atomic_map());
        let volumes = d.path(&["spec", "template", "spec", "volumes"]).unwrap();
        assert_eq!(volumes.patch_strategy_marker(), Some("merge,retainKeys"));
        assert!(d.path(&["spec", "nonsense"]).is_none());
    }

    #[test]
    fn service_ports_differ_from_container_ports() {
        let s = builtin_kind("", "v1", "Service").unwrap();
        let ports = s.path(&["spec", "ports"]).unwrap();
        assert_eq!(ports.list_type(), ListType::Map(vec!["port", "protocol"]));
        assert_eq!(ports.patch_strategy(), PatchStrategy::MergeKey("port"));
    }
}
