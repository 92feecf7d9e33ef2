//! OpenAPI 3.0 documents for custom kinds (one per group/version, as kube-apiserver
//! publishes them for CustomResourceDefinitions): each kind's schema is its definition's
//! `openAPIV3Schema` with `apiVersion`, `kind` and `metadata` added, under the name
//! Kubernetes gives it (`com.example.v1.Widget`), with the same operations a built-in kind
//! has, so `kubectl explain` finds the fields and kubectl sees that the server validates.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};

use super::{paths, reachable_v3_schemas, types, v3_document, V3_REF};
use crate::registry::ResourceType;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The hash of a document's JSON, as the `/openapi/v3` index puts it in a URL.
pub fn v3_hash_of(json: &[u8]) -> String {
    Sha512::digest(json).iter().map(|b| format!("{b:02X}")).collect()
}

/// The definition name Kubernetes gives a custom kind: the group reversed, then version and kind.
fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// The document for the custom kinds of one group/version, each with its `openAPIV3Schema`.
pub fn custom_v3(kinds: &[(&ResourceType, &Value)]) -> Value {
    let mut path_map = Map::new();
    let mut schemas = Map::new();
    let mut builtin = vec![OBJECT_META.to_string(), types::LIST_META.to_string()];
    for (rt, schema) in kinds {
        let name = definition_name(rt.group, rt.version, rt.kind);
        let list_name = definition_name(rt.group, rt.version, rt.list_kind);
        let ps = paths::resource_paths(rt, &name, &list_name);
        paths::render(&ps, paths::Op::v3, &mut path_map);
        builtin.extend(paths::referenced(&ps).into_iter().filter(|r| *r != name && *r != list_name));
        let gvk = |kind: &str| json!([{"group": rt.group, "version": rt.version, "kind": kind}]);
        let mut kind_schema = (*schema).clone();
        if let Some(fields) = kind_schema.as_object_mut() {
            let properties = fields.entry("properties").or_insert_with(|| json!({}));
            properties["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."});
            properties["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."});
            properties["metadata"] = json!({"allOf": [{"$ref": format!("{V3_REF}{OBJECT_META}")}], "description": "Standard object's metadata."});
            fields.insert("x-kubernetes-group-version-kind".into(), gvk(rt.kind));
        }
        schemas.insert(name.clone(), kind_schema);
        schemas.insert(
            list_name,
            json!({
                "description": format!("{} is a list of {}", rt.list_kind, rt.kind),
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "items": {"type": "array", "items": {"$ref": format!("{V3_REF}{name}")}},
                    "metadata": {"allOf": [{"$ref": format!("{V3_REF}{}", types::LIST_META)}]},
                },
                "x-kubernetes-group-version-kind": gvk(rt.list_kind),
            }),
        );
    }
    schemas.extend(reachable_v3_schemas(builtin));
    v3_document(path_map, schemas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_kind_is_published_with_its_schema_and_operations() {
        let def = crate::crd::read(&json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "description": "what it wants"}}}}}]}
        }))
        .unwrap();
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "description": "what it wants"}}});
        let doc = custom_v3(&[(def.versions[0].rt, &schema)]);
        let widget = &doc["components"]["schemas"]["com.example.v1.Widget"];
        assert_eq!(widget["properties"]["spec"]["description"], "what it wants");
        assert_eq!(widget["x-kubernetes-group-version-kind"][0]["kind"], "Widget");
        assert!(doc["components"]["schemas"][OBJECT_META].is_object());
        let patch = &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"), "{patch}");
        // No strategic merge for a custom kind: kubectl then sends merge patches.
        let content = patch["requestBody"]["content"].as_object().unwrap();
        assert!(content.contains_key("application/merge-patch+json"), "{patch}");
        assert!(!content.contains_key("application/strategic-merge-patch+json"), "{patch}");
    }
}
