//! A resource being built: its object plus the identity history that
//! patches, name references and vars use to find it after renames.

use serde_json::{Map, Value};

/// One Kubernetes object and what the build remembers about it.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The object itself (always a JSON object).
    pub obj: Value,
    /// Every earlier name, oldest first (the current name is not included).
    pub prev_names: Vec<String>,
    /// Every earlier namespace, oldest first.
    pub prev_namespaces: Vec<String>,
    /// The name at the start of the current kustomization level's transforms.
    pub level_name: String,
    /// A generated ConfigMap/Secret that gets a content-hash name suffix at the end.
    pub needs_hash: bool,
    /// Groups of JSON pointers whose values kustomize holds as one shared
    /// YAML node (a label it created at once in metadata, selector and
    /// template): changing one in place later changes them all.
    pub aliases: Vec<Vec<String>>,
}

impl Resource {
    pub fn new(obj: Value) -> Self {
        let mut r = Resource {
            obj,
            prev_names: Vec::new(),
            prev_namespaces: Vec::new(),
            level_name: String::new(),
            needs_hash: false,
            aliases: Vec::new(),
        };
        r.level_name = r.name().to_string();
        r
    }

    fn str_at(&self, path: &[&str]) -> &str {
        let mut v = &self.obj;
        for p in path {
            match v.get(p) {
                Some(next) => v = next,
                None => return "",
            }
        }
        v.as_str().unwrap_or("")
    }

    pub fn kind(&self) -> &str {
        self.str_at(&["kind"])
    }

    pub fn api_version(&self) -> &str {
        self.str_at(&["apiVersion"])
    }

    /// The API group ("" for the core group).
    pub fn group(&self) -> &str {
        split_api_version(self.api_version()).0
    }

    pub fn version(&self) -> &str {
        split_api_version(self.api_version()).1
    }

    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"])
    }

    pub fn namespace(&self) -> &str {
        self.str_at(&["metadata", "namespace"])
    }

    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let obj = ensure_object(&mut self.obj);
        ensure_object(obj.entry("metadata").or_insert(Value::Null))
    }

    /// Renames the resource, remembering the old name.
    pub fn set_name(&mut self, name: &str) {
        let old = self.name().to_string();
        if old == name {
            return;
        }
        self.prev_names.push(old);
        self.metadata_mut()
            .insert("name".into(), Value::String(name.into()));
    }

    /// Moves the resource to a namespace, remembering the old one.
    pub fn set_namespace(&mut self, ns: &str) {
        let old = self.namespace().to_string();
        if old == ns {
            return;
        }
        self.prev_namespaces.push(old);
        self.metadata_mut()
            .insert("namespace".into(), Value::String(ns.into()));
    }

    /// Whether `name` is the current name or any earlier one.
    pub fn had_name(&self, name: &str) -> bool {
        self.name() == name || self.prev_names.iter().any(|n| n == name)
    }

    /// Whether `ns` is the current namespace or any earlier one.
    pub fn had_namespace(&self, ns: &str) -> bool {
        self.namespace() == ns || self.prev_namespaces.iter().any(|n| n == ns)
    }

    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.obj.get("metadata")?.get("labels")?.as_object()
    }

    pub fn annotations(&self) -> Option<&Map<String, Value>> {
        self.obj.get("metadata")?.get("annotations")?.as_object()
    }

    /// A short human id such as `apps/v1 Deployment default/web`.
    pub fn describe(&self) -> String {
        let ns = self.namespace();
        if ns.is_empty() {
            format!("{} {} {}", self.api_version(), self.kind(), self.name())
        } else {
            format!("{} {} {}/{}", self.api_version(), self.kind(), ns, self.name())
        }
    }
}

/// Splits `group/version` (core types have no group).
pub fn split_api_version(av: &str) -> (&str, &str) {
    match av.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", av),
    }
}

/// Makes `v` an object (replacing anything else) and returns its map.
pub fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Kinds that live outside namespaces (kustomize never sets their namespace).
pub fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "CustomResourceDefinition"
            | "PersistentVolume"
            | "StorageClass"
            | "PriorityClass"
            | "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "APIService"
            | "Node"
            | "CSIDriver"
            | "CSINode"
            | "VolumeAttachment"
            | "RuntimeClass"
            | "PodSecurityPolicy"
            | "IngressClass"
            | "ClusterIssuer"
            | "CertificateSigningRequest"
            | "ComponentStatus"
            | "FlowSchema"
            | "PriorityLevelConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
    )
}
