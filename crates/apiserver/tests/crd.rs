//! CustomResourceDefinitions through kubectl and raw requests: a definition applied with
//! kubectl is served at once (discovery, CRUD, printer columns, short names, scale and
//! status subresources, several versions), its schema prunes, defaults and validates,
//! finalizers hold deletion, deleting the definition deletes its objects, and bad
//! definitions are refused with their reasons.

mod common;

use common::TestServer;
use serde_json::{json, Value};

const WIDGETS: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [gadgets]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [image]
            properties:
              image: {type: string}
              replicas: {type: integer, minimum: 0, maximum: 10, default: 1}
              mode: {type: string, enum: [fast, safe], default: safe}
              port: {x-kubernetes-int-or-string: true}
              config: {type: object, x-kubernetes-preserve-unknown-fields: true}
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items: {type: object, required: [name], properties: {name: {type: string}, port: {type: integer}}}
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
              phase: {type: string}
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas, labelSelectorPath: .status.selector}
    additionalPrinterColumns:
    - {name: Image, type: string, jsonPath: .spec.image}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Phase, type: string, jsonPath: .status.phase}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn stderr(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Applies the Widget definition and waits for it as users do.
fn with_widgets() -> TestServer {
    let server = TestServer::start();
    let crd = server.file("crd.yaml", WIDGETS);
    server.kubectl(&["apply", "-f", crd.to_str().unwrap()]);
    server.kubectl(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s"]);
    server
}

#[test]
fn kubectl_serves_a_custom_kind_with_schema_columns_and_subresources() {
    let server = with_widgets();
    let crd = json_of(&server.kubectl(&["get", "crd", "widgets.example.com", "-o", "json"]));
    assert_eq!(crd["status"]["acceptedNames"]["kind"], "Widget");
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    let resources = server.kubectl(&["api-resources", "--api-group=example.com"]);
    assert!(resources.contains("widgets") && resources.contains("wd") && resources.contains("Widget"), "{resources}");

    // Defaults filled in, unknown fields pruned (with a warning), preserved fields kept.
    let w1 = server.file(
        "w1.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: default}\nspec:\n  image: nginx\n  port: http\n  bogus: 1\n  config: {any: {thing: true}}\n",
    );
    let out = server.kubectl_output(&["create", "-f", w1.to_str().unwrap(), "--validate=false"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = json_of(&server.kubectl(&["get", "wd", "w1", "-o", "json"]));
    assert_eq!((got["spec"]["replicas"].clone(), got["spec"]["mode"].clone()), (json!(1), json!("safe")));
    assert!(got["spec"].get("bogus").is_none(), "{got}");
    assert_eq!(got["spec"]["config"]["any"]["thing"], true);
    assert_eq!(got["metadata"]["generation"], 1);

    // Printer columns, by plural, short name, singular and category.
    let table = server.kubectl(&["get", "widgets"]);
    let header: Vec<&str> = table.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "IMAGE", "REPLICAS", "PHASE", "AGE"], "{table}");
    assert!(table.lines().nth(1).is_some_and(|l| l.starts_with("w1") && l.contains("nginx") && l.contains(" 1 ")), "{table}");
    for name in ["wd", "widget", "gadgets", "widgets.example.com"] {
        assert!(server.kubectl(&["get", name, "-o", "name"]).contains("widget.example.com/w1"), "{name}");
    }

    // The scale subresource: kubectl scale writes spec.replicas; the selector comes from status.
    server.kubectl(&["scale", "widget/w1", "--replicas=4"]);
    assert_eq!(server.kubectl(&["get", "wd", "w1", "-o", "jsonpath={.spec.replicas}"]), "4");
    server.kubectl(&["patch", "wd", "w1", "--subresource=status", "--type=merge", "-p", r#"{"status":{"replicas":4,"selector":"app=w1","phase":"Ready"}}"#]);
    let (code, scale) = server.request("GET", "/apis/example.com/v1/namespaces/default/widgets/w1/scale", "application/json", None);
    assert_eq!(code, 200, "{scale}");
    assert_eq!((scale["spec"]["replicas"].clone(), scale["status"]["replicas"].clone(), scale["status"]["selector"].clone()), (json!(4), json!(4), json!("app=w1")));
    assert!(server.kubectl(&["get", "wd", "w1"]).contains("Ready"));
    // Status written through the main endpoint is ignored; a spec change bumps the generation.
    server.kubectl(&["patch", "wd", "w1", "--type=merge", "-p", r#"{"spec":{"mode":"fast"},"status":{"phase":"Hacked"}}"#]);
    let got = json_of(&server.kubectl(&["get", "wd", "w1", "-o", "json"]));
    assert_eq!((got["status"]["phase"].clone(), got["metadata"]["generation"].clone()), (json!("Ready"), json!(3)));

    // The other served version reads the same object (None conversion).
    let beta = json_of(&server.kubectl(&["get", "widgets.v1beta1.example.com", "w1", "-o", "json"]));
    assert_eq!((beta["apiVersion"].clone(), beta["spec"]["image"].clone()), (json!("example.com/v1beta1"), json!("nginx")));
    // The kind's schema is published: kubectl explain reads it, and kubectl apply has the
    // server check fields strictly (it sees fieldValidation among the PATCH parameters).
    let explain = server.kubectl(&["explain", "widgets.spec.replicas"]);
    assert!(explain.contains("KIND:") && explain.contains("Widget") && explain.contains("integer"), "{explain}");
    let unknown = server.file("unknown.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2, namespace: default}\nspec: {image: a, bogus: 1}\n");
    let out = server.kubectl_output(&["apply", "-f", unknown.to_str().unwrap()]);
    assert!(!out.status.success() && stderr(&out).contains("unknown field \"spec.bogus\""), "{}", stderr(&out));
    // A strategic merge patch has no merge keys to use on a custom kind.
    let out = server.kubectl_output(&["patch", "wd", "w1", "--type=strategic", "-p", r#"{"spec":{"mode":"safe"}}"#]);
    assert!(!out.status.success() && stderr(&out).contains("strategic merge patch is not supported"), "{}", stderr(&out));
}

#[test]
fn server_side_apply_merges_list_map_keys_of_custom_resources() {
    let server = with_widgets();
    let a = server.file("a.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w3, namespace: default}\nspec: {image: a, ports: [{name: http, port: 80}]}\n");
    let b = server.file("b.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w3, namespace: default}\nspec: {ports: [{name: metrics, port: 9090}]}\n");
    server.kubectl(&["apply", "--server-side", "--field-manager=a", "-f", a.to_str().unwrap()]);
    server.kubectl(&["apply", "--server-side", "--field-manager=b", "-f", b.to_str().unwrap()]);
    let got = json_of(&server.kubectl(&["get", "wd", "w3", "-o", "json"]));
    assert_eq!(got["spec"]["ports"], json!([{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}]), "{got}");
    // Each manager owns its own element: b changing the http port is a conflict.
    let b2 = server.file("b2.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w3, namespace: default}\nspec: {ports: [{name: metrics, port: 9090}, {name: http, port: 8080}]}\n");
    let out = server.kubectl_output(&["apply", "--server-side", "--field-manager=b", "-f", b2.to_str().unwrap()]);
    assert!(!out.status.success() && stderr(&out).contains("conflict"), "{}", stderr(&out));
}

#[test]
fn invalid_custom_resources_get_422_with_field_paths() {
    let server = with_widgets();
    let bad = server.file(
        "bad.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: bad, namespace: default}\nspec: {replicas: 11, mode: slow, port: true}\n",
    );
    let out = server.kubectl_output(&["create", "-f", bad.to_str().unwrap(), "--validate=false"]);
    let text = stderr(&out);
    assert!(!out.status.success(), "{text}");
    for wanted in [
        "The Widget \"bad\" is invalid",
        "spec.image: Required value",
        "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
        "spec.mode: Unsupported value: \"slow\": supported values: \"fast\", \"safe\"",
        "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer or string: \"boolean\"",
    ] {
        assert!(text.contains(wanted), "{wanted}\nnot in {text}");
    }
    let body = server.file("bad.json", r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"bad"},"spec":{"image":"x","replicas":"two"}}"#);
    let (code, status) = server.request("POST", "/apis/example.com/v1/namespaces/default/widgets", "application/json", Some(&body));
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "spec.replicas", "{status}");
    assert_eq!(status["details"]["kind"], "Widget");
    // Strict field validation refuses what would be pruned.
    let strict = server.file("strict.json", r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"s"},"spec":{"image":"x","extra":1}}"#);
    let (code, status) = server.request("POST", "/apis/example.com/v1/namespaces/default/widgets?fieldValidation=Strict", "application/json", Some(&strict));
    assert_eq!(code, 400, "{status}");
    assert!(status["message"].as_str().unwrap_or_default().contains("unknown field \"spec.extra\""), "{status}");
}

#[test]
fn finalizers_hold_custom_resources_and_deleting_the_definition_deletes_its_objects() {
    let server = with_widgets();
    let held = server.file(
        "held.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: held, namespace: default, finalizers: [example.com/cleanup]}\nspec: {image: a}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: other, namespace: default}\nspec: {image: b}\n",
    );
    server.kubectl(&["apply", "-f", held.to_str().unwrap()]);
    server.kubectl(&["delete", "wd", "held", "--wait=false"]);
    let got = json_of(&server.kubectl(&["get", "wd", "held", "-o", "json"]));
    assert!(got["metadata"]["deletionTimestamp"].is_string(), "{got}");
    server.kubectl(&["patch", "wd", "held", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    let out = server.kubectl_output(&["get", "wd", "held"]);
    assert!(stderr(&out).contains("NotFound"), "{}", stderr(&out));

    // Deleting the definition deletes its objects; one with a finalizer holds it (terminating,
    // still served, no new objects) until the finalizer is removed.
    let late = server.file("late.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: late, namespace: default, finalizers: [example.com/cleanup]}\nspec: {image: c}\n");
    server.kubectl(&["apply", "-f", late.to_str().unwrap()]);
    server.kubectl(&["delete", "crd", "widgets.example.com", "--wait=false"]);
    let crd = json_of(&server.kubectl(&["get", "crd", "widgets.example.com", "-o", "json"]));
    assert!(crd["metadata"]["deletionTimestamp"].is_string(), "{crd}");
    assert!(stderr(&server.kubectl_output(&["get", "wd", "other"])).contains("NotFound"));
    let got = json_of(&server.kubectl(&["get", "wd", "late", "-o", "json"]));
    assert!(got["metadata"]["deletionTimestamp"].is_string(), "{got}");
    let text = stderr(&server.kubectl_output(&["apply", "-f", held.to_str().unwrap()]));
    assert!(text.contains("create not allowed while custom resource definition widgets.example.com is terminating"), "{text}");
    server.kubectl(&["patch", "wd", "late", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    let out = server.kubectl_output(&["get", "crd", "widgets.example.com"]);
    assert!(stderr(&out).contains("NotFound"), "{}", stderr(&out));
    let (code, _) = server.request("GET", "/apis/example.com/v1/namespaces/default/widgets", "application/json", None);
    assert_eq!(code, 404);
    // Defined again, the kind starts empty: the old objects went with the definition.
    let crd = server.file("crd.yaml", WIDGETS);
    server.kubectl(&["apply", "-f", crd.to_str().unwrap()]);
    let (code, list) = server.request("GET", "/apis/example.com/v1/namespaces/default/widgets", "application/json", None);
    assert_eq!((code, list["items"].clone()), (200, json!([])), "{list}");
}

#[test]
fn cluster_scoped_kinds_are_served_without_namespaces() {
    let server = TestServer::start();
    let crd = server.file(
        "crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: regions.geo.example.com}\nspec:\n  group: geo.example.com\n  scope: Cluster\n  names: {plural: regions, kind: Region}\n  versions:\n  - name: v1alpha1\n    served: true\n    storage: true\n    schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {zone: {type: string}}}}}}\n",
    );
    server.kubectl(&["apply", "-f", crd.to_str().unwrap()]);
    let region = server.file("r.yaml", "apiVersion: geo.example.com/v1alpha1\nkind: Region\nmetadata: {name: north}\nspec: {zone: a}\n");
    server.kubectl(&["apply", "-f", region.to_str().unwrap(), "--validate=false"]);
    let table = server.kubectl(&["get", "regions"]);
    let header: Vec<&str> = table.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "AGE"], "{table}");
    let (code, got) = server.request("GET", "/apis/geo.example.com/v1alpha1/regions/north", "application/json", None);
    assert_eq!((code, got["spec"]["zone"].clone()), (200, json!("a")), "{got}");
    assert!(got["metadata"].get("namespace").is_none());
    let (code, _) = server.request("GET", "/apis/geo.example.com/v1alpha1/namespaces/default/regions", "application/json", None);
    assert_eq!(code, 404);
}

#[test]
fn bad_definitions_are_refused_with_reasons() {
    let server = TestServer::start();
    let crd = |name: &str, group: &str, kind: &str, schema: &str| {
        format!("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: {name}}}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: things, kind: {kind}}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {{openAPIV3Schema: {schema}}}\n")
    };
    let non_structural = server.file("ns.yaml", crd("things.a.example.com", "a.example.com", "Thing", "{type: object, properties: {spec: {properties: {size: {type: integer}}}, list: {type: array}}}"));
    let out = server.kubectl_output(&["apply", "-f", non_structural.to_str().unwrap()]);
    let text = stderr(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"), "{text}");
    assert!(text.contains("spec.versions[0].schema.openAPIV3Schema.properties[list].items: Required value"), "{text}");

    // CEL rules are accepted but not enforced, and the client is told so.
    let cel = server.file("cel.yaml", crd("things.c.example.com", "c.example.com", "Thing", "{type: object, properties: {spec: {type: object, x-kubernetes-validations: [{rule: 'self.a < self.b'}], properties: {a: {type: integer}, b: {type: integer}}}}}"));
    let out = server.kubectl_output(&["apply", "-f", cel.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Warning: spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations: CEL rules are not enforced by tug"), "{}", stderr(&out));

    let mismatch = server.file("mm.yaml", crd("widgets.a.example.com", "a.example.com", "Thing", "{type: object}"));
    let text = stderr(&server.kubectl_output(&["apply", "-f", mismatch.to_str().unwrap()]));
    assert!(text.contains("metadata.name: Invalid value: \"widgets.a.example.com\": must be spec.names.plural+\".\"+spec.group (things.a.example.com)"), "{text}");

    // A second definition of the same kind in the group under another name is stored but not served.
    let first = server.file("first.yaml", crd("things.b.example.com", "b.example.com", "Thing", "{type: object}"));
    server.kubectl(&["apply", "-f", first.to_str().unwrap()]);
    let clash = server.file(
        "clash.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: thingies.b.example.com}\nspec:\n  group: b.example.com\n  scope: Namespaced\n  names: {plural: thingies, kind: Thing}\n  versions:\n  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}\n",
    );
    server.kubectl(&["apply", "-f", clash.to_str().unwrap()]);
    let got = json_of(&server.kubectl(&["get", "crd", "thingies.b.example.com", "-o", "json"]));
    let conditions = got["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let names = conditions.iter().find(|c| c["type"] == "NamesAccepted").cloned().unwrap_or_default();
    assert_eq!((names["status"].clone(), names["message"].clone()), (json!("False"), json!("\"Thing\" is already in use")), "{got}");
    let (code, _) = server.request("GET", "/apis/b.example.com/v1/thingies", "application/json", None);
    assert_eq!(code, 404);
}
