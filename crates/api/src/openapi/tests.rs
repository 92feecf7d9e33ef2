use super::*;

#[test]
fn every_served_kind_has_a_schema() {
    for rt in registry::all() {
        let k = types::kind(rt.group, rt.version, rt.kind).unwrap_or_else(|| panic!("{} has no schema", rt.kind));
        assert_eq!(k.list_kind, rt.list_kind);
    }
    assert_eq!(types::KINDS.len(), registry::all().len());
}

#[test]
fn v2_definitions_carry_names_and_kinds() {
    let defs = &v2()["definitions"];
    let d = &defs["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(d["x-kubernetes-group-version-kind"], json!([{"group": "apps", "kind": "Deployment", "version": "v1"}]));
    assert_eq!(d["properties"]["spec"]["$ref"], "#/definitions/io.k8s.api.apps.v1.DeploymentSpec");
    assert_eq!(defs["io.k8s.api.apps.v1.DeploymentList"]["properties"]["items"]["items"]["$ref"], "#/definitions/io.k8s.api.apps.v1.Deployment");
    assert_eq!(defs["io.k8s.api.core.v1.PodList"]["x-kubernetes-group-version-kind"][0]["kind"], "PodList");
    for name in [
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
        "io.k8s.api.autoscaling.v1.Scale",
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
    ] {
        assert!(defs.get(name).is_some(), "{name} missing");
    }
    assert_eq!(defs[INT_OR_STRING]["format"], "int-or-string");
    assert_eq!(defs[INT_OR_STRING]["type"], "string");
    assert_eq!(defs["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"], "date-time");
    let delete_options = defs["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]["x-kubernetes-group-version-kind"].as_array().unwrap();
    assert!(delete_options.iter().any(|g| g["group"] == "apps"));
    // Every ref resolves.
    let mut refs = Vec::new();
    collect_refs(v2(), &mut refs);
    for r in refs {
        assert!(defs.get(&r).is_some(), "dangling ref {r}");
    }
}

#[test]
fn list_fields_carry_merge_extensions() {
    let defs = &v2()["definitions"];
    let containers = &defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    let ports = &defs["io.k8s.api.core.v1.Container"]["properties"]["ports"];
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
    assert_eq!(ports["x-kubernetes-list-map-keys"], json!(["containerPort", "protocol"]));
    assert_eq!(defs["io.k8s.api.core.v1.PodSpec"]["properties"]["volumes"]["x-kubernetes-patch-strategy"], "merge,retainKeys");
    assert_eq!(defs["io.k8s.api.core.v1.PodSpec"]["properties"]["tolerations"]["x-kubernetes-list-type"], "atomic");
    // Every row of the table names a real field.
    for f in extensions::LIST_FIELDS {
        let def = format!("io.k8s.{}", f.def);
        assert!(defs[&def]["properties"].get(f.field).is_some(), "{def}.{} does not exist", f.field);
        assert_eq!(defs[&def]["properties"][f.field]["type"], "array", "{def}.{} is not a list", f.field);
    }
    for d in extensions::ATOMIC_STRUCTS {
        assert!(defs.get(format!("io.k8s.{d}")).is_some(), "{d} does not exist");
    }
}

#[test]
fn v2_paths_have_operations_with_kinds_and_parameters() {
    let paths = &v2()["paths"];
    let item = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    let patch = &item["patch"];
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(patch["x-kubernetes-group-version-kind"], json!({"group": "apps", "kind": "Deployment", "version": "v1"}));
    assert!(patch["consumes"].as_array().unwrap().contains(&json!("application/strategic-merge-patch+json")));
    assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
    assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
    assert!(paths.get("/api/v1/namespaces/{namespace}/pods/{name}/log").is_some());
    assert_eq!(paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["get"]["x-kubernetes-group-version-kind"]["kind"], "Scale");
    assert!(paths.get("/api/v1/nodes/{name}").is_some());
    assert!(paths.get("/api/v1/namespaces/{namespace}/nodes").is_none());
    assert_eq!(paths["/apis/rbac.authorization.k8s.io/v1/clusterroles"]["get"]["operationId"], "listRbacAuthorizationV1ClusterRole");
}

#[test]
fn v3_index_points_at_each_group_version() {
    let index = &v3_index()["paths"];
    let apps = index["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap();
    assert!(apps.starts_with("/openapi/v3/apis/apps/v1?hash="));
    assert!(apps.ends_with(v3_hash("apps", "v1").unwrap()));
    assert!(index.get("api/v1").is_some());
    assert!(index.get("apis/autoscaling/v2").is_some());
    assert_eq!(v3_group_version("apis/networking.k8s.io/v1"), Some(("networking.k8s.io", "v1")));
    assert_eq!(v3_group_version("api/v1"), Some(("", "v1")));
    assert_eq!(v3_group_version("apis/nope/v1"), None);
    assert!(v3("nope", "v1").is_none());
}

#[test]
fn v3_documents_are_self_contained() {
    for (group, versions) in registry::groups() {
        for version in versions {
            let doc = v3(group, version).unwrap();
            assert_eq!(doc["openapi"], "3.0.0");
            let schemas = doc["components"]["schemas"].as_object().unwrap();
            let mut refs = Vec::new();
            collect_v3_refs(doc, &mut refs);
            for r in refs {
                assert!(schemas.contains_key(&r), "{group}/{version}: dangling ref {r}");
            }
        }
    }
    let apps = v3("apps", "v1").unwrap();
    let schemas = &apps["components"]["schemas"];
    let spec = &schemas["io.k8s.api.apps.v1.DeploymentSpec"];
    assert_eq!(spec["properties"]["strategy"]["allOf"], json!([{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}]));
    assert!(spec["properties"]["strategy"]["description"].is_string());
    assert_eq!(schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
    assert!(schemas[INT_OR_STRING]["oneOf"].is_array());
    let patch = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert!(patch["requestBody"]["content"].get("application/strategic-merge-patch+json").is_some());
    assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
    // Only this group/version's paths.
    assert!(apps["paths"].as_object().unwrap().keys().all(|p| p.starts_with("/apis/apps/v1/")));
    // Kinds of other groups are not included unless referenced.
    assert!(schemas.get("io.k8s.api.batch.v1.Job").is_none());
}

fn collect_v3_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.strip_prefix(V3_REF).expect("v3 ref").to_string()),
                    _ => collect_v3_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_v3_refs(v, out)),
        _ => {}
    }
}

#[test]
fn documents_build_quickly() {
    let t = std::time::Instant::now();
    let defs = build_definitions();
    let t_defs = t.elapsed();
    let t = std::time::Instant::now();
    let v2 = build_v2();
    let t_v2 = t.elapsed();
    let t = std::time::Instant::now();
    let json = serde_json::to_vec(&v2).unwrap();
    let t_json = t.elapsed();
    let t = std::time::Instant::now();
    let pb = protobuf::encode(&v2);
    let t_pb = t.elapsed();
    let t = std::time::Instant::now();
    let mut v3_bytes = 0;
    for (g, vs) in registry::groups() {
        for v in vs {
            v3_bytes += serde_json::to_vec(&build_v3(g, v)).unwrap().len();
        }
    }
    let t_v3 = t.elapsed();
    eprintln!(
        "{} definitions in {t_defs:?}; v2 {t_v2:?} ({} bytes JSON in {t_json:?}, {} bytes protobuf in {t_pb:?}); all v3 documents {t_v3:?} ({v3_bytes} bytes)",
        defs.len(),
        json.len(),
        pb.len()
    );
}

#[test]
fn v2_protobuf_encodes_the_document() {
    let pb = v2_protobuf();
    // Field 1 (swagger) comes first: tag 0x0a, length 3, "2.0".
    assert_eq!(&pb[..5], b"\x0a\x032.0");
    let text = String::from_utf8_lossy(pb);
    assert!(text.contains("io.k8s.api.apps.v1.Deployment"));
    assert!(text.contains("x-kubernetes-patch-merge-key"));
    assert!(pb.len() < v2_json().len());
    assert!(v2_accepts_protobuf("application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json"));
    assert!(v2_accepts_protobuf("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"));
    assert!(!v2_accepts_protobuf("application/json"));
}
