//! How lists merge in a strategic merge patch: by a merge key, as a set of
//! primitives, or replaced whole. Built-in kinds use the merge keys of the
//! Kubernetes types; an `openapi` schema can describe custom kinds; for the
//! rest the key is inferred from the elements, as kustomize does.

use serde_json::Value;

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

/// Kinds whose schema is built in.
fn is_builtin_kind(kind: &str) -> bool {
    matches!(
        kind,
        "Pod"
            | "PodTemplate"
            | "Deployment"
            | "ReplicaSet"
            | "DaemonSet"
            | "StatefulSet"
            | "Job"
            | "CronJob"
            | "ReplicationController"
            | "Service"
            | "ConfigMap"
            | "Secret"
            | "ServiceAccount"
            | "Ingress"
            | "PersistentVolumeClaim"
            | "PersistentVolume"
            | "Namespace"
            | "Role"
            | "ClusterRole"
            | "RoleBinding"
            | "ClusterRoleBinding"
            | "HorizontalPodAutoscaler"
            | "PodDisruptionBudget"
            | "NetworkPolicy"
            | "Endpoints"
    )
}

/// The Kubernetes merge key of a list in a built-in kind, from the field path.
fn builtin_strategy(kind: &str, path: &[String]) -> Option<ListStrategy> {
    let last = path.last()?.as_str();
    let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
    let key = |k: &str| Some(ListStrategy::MergeKey(k.to_string()));
    match last {
        "containers" | "initContainers" | "ephemeralContainers" => key("name"),
        "volumes" | "env" | "imagePullSecrets" | "resourceClaims" | "schedulingGates" => key("name"),
        "volumeMounts" => key("mountPath"),
        "volumeDevices" => key("devicePath"),
        "hostAliases" => key("ip"),
        "topologySpreadConstraints" => key("topologyKey"),
        "conditions" => key("type"),
        "ownerReferences" => key("uid"),
        "finalizers" if parent == Some("metadata") => Some(ListStrategy::Union),
        "ports" if matches!(parent, Some("containers" | "initContainers" | "ephemeralContainers")) => {
            key("containerPort")
        }
        "ports" if kind == "Service" && parent == Some("spec") => key("port"),
        _ if is_builtin_kind(kind) => Some(ListStrategy::Replace),
        _ => None,
    }
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

    fn resolve<'a>(&'a self, mut node: &'a Value) -> &'a Value {
        for _ in 0..32 {
            let Some(r) = node.get("$ref").and_then(Value::as_str) else {
                return node;
            };
            let Some(name) = r.strip_prefix("#/definitions/") else {
                return node;
            };
            match self.doc.get("definitions").and_then(|d| d.get(name)) {
                Some(n) => node = n,
                None => return node,
            }
        }
        node
    }

    fn root(&self, group: &str, kind: &str) -> Option<&Value> {
        let defs = self.doc.get("definitions")?.as_object()?;
        defs.values().find(|d| {
            d.get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .is_some_and(|gvks| {
                    gvks.iter().any(|g| {
                        g.get("kind").and_then(Value::as_str) == Some(kind)
                            && g.get("group").and_then(Value::as_str).unwrap_or("") == group
                    })
                })
        })
    }

    fn strategy(&self, group: &str, kind: &str, path: &[String]) -> Option<ListStrategy> {
        let mut node = self.resolve(self.root(group, kind)?);
        for (i, seg) in path.iter().enumerate() {
            node = self.resolve(node.get("properties")?.get(seg)?);
            if i + 1 < path.len() && node.get("type").and_then(Value::as_str) == Some("array") {
                node = self.resolve(node.get("items")?);
            }
        }
        let key = node.get("x-kubernetes-patch-merge-key").and_then(Value::as_str);
        let strategy = node.get("x-kubernetes-patch-strategy").and_then(Value::as_str);
        Some(match (key, strategy) {
            (Some(k), _) => ListStrategy::MergeKey(k.to_string()),
            (None, Some(s)) if s.contains("merge") => ListStrategy::Union,
            _ => ListStrategy::Replace,
        })
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
        builtin_strategy(kind, path).unwrap_or_else(|| inferred_strategy(patch_items))
    }
}
