use serde_json::{json, Value};

use super::*;

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}},
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                 "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}]},
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })
}

#[test]
fn a_definition_serves_its_versions_as_resource_types() {
    let def = read(&crd()).unwrap();
    assert_eq!((def.singular.as_str(), def.list_kind.as_str()), ("widget", "WidgetList"));
    let v1 = &def.versions[0];
    assert_eq!((v1.rt.group, v1.rt.version, v1.rt.plural, v1.rt.kind), ("example.com", "v1", "widgets", "Widget"));
    assert!(v1.rt.custom && v1.rt.namespaced && v1.rt.storage_version);
    assert!(v1.rt.has(registry::Subresource::Scale) && v1.rt.has(registry::Subresource::Status));
    assert_eq!(v1.rt.short_names, &["wd"]);
    assert_eq!(v1.rt.key(Some("ns"), "a"), "/registry/example.com/widgets/ns/a");
    assert_eq!(def.versions[1].rt.key(Some("ns"), "a"), v1.rt.key(Some("ns"), "a"));
    assert!(def.versions[1].rt.subresources.is_empty());
    // Read twice, the same type comes back: nothing new is allocated.
    assert!(std::ptr::eq(read(&crd()).unwrap().versions[0].rt, v1.rt));
}

#[test]
fn bad_definitions_name_their_fields() {
    let mut bad = crd();
    bad["metadata"]["name"] = json!("widget.example.com");
    bad["spec"]["scope"] = json!("Global");
    bad["spec"]["versions"][1]["storage"] = json!(true);
    bad["spec"]["versions"][0]["schema"] = json!({"openAPIV3Schema": {"type": "object", "properties": {"spec": {"properties": {}}}}});
    bad["spec"]["versions"][1].as_object_mut().unwrap().remove("schema");
    let errors: Vec<String> = read(&bad).unwrap_err().iter().map(ToString::to_string).collect();
    for wanted in [
        "metadata.name: Invalid value: \"widget.example.com\": must be spec.names.plural+\".\"+spec.group (widgets.example.com)",
        "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"",
        "spec.versions: Invalid value: 2: must have exactly one version marked as storage version",
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
        "spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required",
    ] {
        assert!(errors.iter().any(|e| e == wanted), "{wanted}\nnot in {errors:#?}");
    }
    let mut no_dot = crd();
    no_dot["spec"]["group"] = json!("example");
    no_dot["metadata"]["name"] = json!("widgets.example");
    let errors: Vec<String> = read(&no_dot).unwrap_err().iter().map(ToString::to_string).collect();
    assert_eq!(errors, vec!["spec.group: Invalid value: \"example\": should be a domain with at least one dot"]);
}

#[test]
fn json_paths_reach_fields_and_list_items() {
    let o = json!({"spec": {"replicas": 3}, "status": {"conditions": [{"type": "Ready"}]}});
    assert_eq!(json_path(&o, ".spec.replicas"), Some(&json!(3)));
    assert_eq!(json_path(&o, ".status.conditions[0].type"), Some(&json!("Ready")));
    assert_eq!(json_path(&o, ".status.missing"), None);
    let mut o = json!({"metadata": {}});
    set_json_path(&mut o, ".spec.replicas", json!(4));
    assert_eq!(json_path(&o, ".spec.replicas"), Some(&json!(4)));
}
