//! How lists merge in a strategic merge patch: by a merge key, as a set of
//! primitives, or replaced whole. Kinds Tugboat serves use the merge keys of the
//! Kubernetes types (`tug_api::schema`); an `openapi` document can describe custom kinds,
//! read the same way; for the rest the key is inferred from the elements, as kustomize does.

use serde_json::Value;
use tug_api::schema::{Node, PatchStrategy, Schema};

/// How a list field merges.
#[derive(Debug, Clone, PartialEq)]
pub enum ListStrategy {
    /// Elements are matched by this field; unmatched patch elements are appended.
    MergeKey(String),
    /// A list of primitives merged as a set.
    Union,
    /// The patch list replaces the original.
    Replace,
}

/// Fields kustomize treats as list keys when no schema says otherwise, in
/// order of preference.
const INFERRED_KEYS: [&str; 7] = [
    "mountPath",
    "devicePath",
    "ip",
    "type",
    "topologyKey",
    "name",
    "containerPort",
];

/// The strategy `tug_api::schema` gives the list at `path` of `root`: `None` when the
/// schema does not know the field.
fn schema_strategy(root: Node<'_>, path: &[String]) -> Option<ListStrategy> {
    Some(match root.path(path)?.patch_strategy() {
        PatchStrategy::MergeKey(k) => ListStrategy::MergeKey(k.to_string()),
        PatchStrategy::Set => ListStrategy::Union,
        PatchStrategy::Replace => ListStrategy::Replace,
    })
}

/// The strategy of a list in a kind Tugboat serves: what the schema says, else replaced.
fn builtin_strategy(group: &str, kind: &str, path: &[String]) -> Option<ListStrategy> {
    let root = Schema::builtin().kind(group, None, kind)?;
    Some(schema_strategy(root, path).unwrap_or(ListStrategy::Replace))
}

/// Infers a merge key from the elements of the patch list.
fn inferred_strategy(items: &[Value]) -> ListStrategy {
    let maps: Vec<&serde_json::Map<String, Value>> = items.iter().filter_map(Value::as_object).collect();
    if maps.is_empty() || maps.len() != items.len() {
        return ListStrategy::Replace;
    }
    let all_keyed = maps
        .iter()
        .all(|m| INFERRED_KEYS.iter().any(|k| m.contains_key(*k)));
    if !all_keyed {
        return ListStrategy::Replace;
    }
    INFERRED_KEYS
        .iter()
        .find(|k| maps[0].contains_key(**k))
        .map(|k| ListStrategy::MergeKey((*k).to_string()))
        .unwrap_or(ListStrategy::Replace)
}

/// An OpenAPI v2 document with `x-kubernetes-group-version-kind` roots.
#[derive(Debug, Clone, Default)]
pub struct OpenApi {
    doc: Value,
}

impl OpenApi {
    pub fn new(doc: Value) -> Self {
        OpenApi { doc }
    }

    fn strategy(&self, group: &str, kind: &str, path: &[String]) -> Option<ListStrategy> {
        let root = Schema::of_document(&self.doc)?.kind(group, None, kind)?;
        schema_strategy(root, path)
    }
}

/// Everything that decides list merging for one build.
#[derive(Debug, Clone, Default)]
pub struct MergeSchema {
    pub openapi: Option<OpenApi>,
}

impl MergeSchema {
    /// The strategy for the list at `path` in a resource of `group`/`kind`,
    /// given the patch's elements.
    pub fn list_strategy(&self, group: &str, kind: &str, path: &[String], patch_items: &[Value]) -> ListStrategy {
        if let Some(s) = self.openapi.as_ref().and_then(|o| o.strategy(group, kind, path)) {
            return s;
        }
        builtin_strategy(group, kind, path).unwrap_or_else(|| inferred_strategy(patch_items))
    }
}
