//! The KubeVela example Applications under `../shared/conformance/kubevela/` whose component
//! and trait types are all built in (its INDEX.md lists the types each uses) render with the
//! built-in definitions, and a few render to what KubeVela's own definitions produce.

use std::path::PathBuf;

use serde_json::{json, Value};
use tug_oam::{render, Definitions};

const BUILTIN: [&str; 16] = [
    "webservice", "worker", "task", "cron-task", "statefulservice", "k8s-objects", "scaler", "storage", "labels", "annotations", "env", "expose", "sidecar", "resource", "gateway", "hpa",
];

/// `<workspace>/../shared/conformance/kubevela`, else the machine-wide copy.
fn conformance() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    [workspace.join("../shared/conformance/kubevela"), PathBuf::from("/work/shared/conformance/kubevela")]
        .into_iter()
        .find(|p| p.join("INDEX.md").is_file())
        .expect("the KubeVela conformance examples (shared/conformance/kubevela) are present")
}

fn application(file: &str) -> Value {
    let text = std::fs::read_to_string(conformance().join(file)).expect("example reads");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The Applications of INDEX.md that use only built-in types.
fn covered() -> Vec<String> {
    let index = std::fs::read_to_string(conformance().join("INDEX.md")).expect("INDEX.md reads");
    index
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (file, kind, types) = (cells.get(1)?, cells.get(2)?, cells.get(3)?);
            let types: Vec<&str> = types.split(", ").filter(|t| !t.is_empty()).collect();
            (*kind == "core.oam.dev/v1beta1/Application" && !types.is_empty() && types.iter().all(|t| BUILTIN.contains(t))).then(|| file.to_string())
        })
        .collect()
}

#[test]
fn every_example_of_built_in_types_renders() {
    let files = covered();
    assert!(files.len() >= 8, "only {files:?}");
    for file in files {
        let app = application(&file);
        let rendered = render(&app, &Definitions::builtin()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let components = app.pointer("/spec/components").and_then(Value::as_array).map_or(0, Vec::len);
        assert_eq!(rendered.components.len(), components, "{file}");
        for c in &rendered.components {
            assert!(c.workload["kind"].is_string() && c.workload["metadata"]["name"].is_string(), "{file}: {}: {}", c.name, c.workload);
        }
    }
}

#[test]
fn the_labels_and_annotations_traits_add_change_and_remove() {
    let rendered = render(&application("examples/traits/labels/example.yaml"), &Definitions::builtin()).unwrap();
    let labels = &rendered.components[0].workload["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels, &json!({"added-label-key": "added-label-value", "label-key": "modified-label-value", "app.oam.dev/name": "busybox", "app.oam.dev/component": "busybox"}));
    let rendered = render(&application("examples/traits/annotations/example.yaml"), &Definitions::builtin()).unwrap();
    let annotations = &rendered.components[0].workload["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations, &json!({"added-annotation-key": "added-annotation-value", "annotation-key": "modified-annotation-value"}));
}

#[test]
fn webservice_ports_marked_expose_get_a_service_of_the_expose_type() {
    let rendered = render(&application("examples/core-definitions/component/webservice.yaml"), &Definitions::builtin()).unwrap();
    let c = &rendered.components[0];
    let ports = &c.workload["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert_eq!(ports.as_array().map(Vec::len), Some(3), "{ports}");
    let svc = &c.outputs[0];
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(svc["spec"]["ports"], json!([
        {"name": "exposeport1", "port": 8001, "targetPort": 8001, "protocol": "UDP"},
        {"name": "port-8002", "port": 8002, "targetPort": 8002, "protocol": "UDP"}]));
    assert_eq!(c.workload["spec"]["template"]["metadata"]["labels"]["test-label"], "test-value");
}

#[test]
fn sidecar_env_resource_and_k8s_objects_render_as_kubevela_does() {
    let defs = Definitions::builtin();
    let rendered = render(&application("examples/traits/env/multiple-containers.yaml"), &defs).unwrap();
    let containers = &rendered.components[0].workload["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["env"], json!([{"name": "key_for_busybox_first", "value": "value_first"}, {"name": "key_for_busybox_second", "value": "value_second"}]));
    assert_eq!((containers[1]["name"].clone(), containers[1]["image"].clone()), (json!("sidecar-nginx"), json!("nginx")));
    assert_eq!(containers[1]["env"][0]["name"], "key_for_nginx_first");

    let rendered = render(&application("examples/core-definitions/trait/resource.yaml"), &defs).unwrap();
    let resources = &rendered.components[0].workload["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(resources, &json!({"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "4Gi"}}));

    let rendered = render(&application("examples/core-definitions/component/k8s-objects.yaml"), &defs).unwrap();
    let names: Vec<&Value> = rendered.resources().into_iter().map(|r| &r["metadata"]["name"]).collect();
    assert_eq!(names, [&json!("test1"), &json!("test2")]);
}

#[test]
fn a_user_written_definition_renders() {
    let definition: Value = serde_saphyr::from_str(
        r#"
apiVersion: core.oam.dev/v1beta1
kind: ComponentDefinition
metadata: {name: configfile}
spec:
  schematic:
    gotemplate:
      parameter:
        required: [content]
        properties:
          content: {type: string}
          file: {type: string, default: app.conf}
      template: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: {{ printf "%s-config" .context.name | toJson }}}
        data: {{ dict .parameter.file .parameter.content | toJson }}
"#,
    )
    .unwrap();
    let mut defs = Definitions::builtin();
    defs.add(tug_oam::Definition::from_object(&definition).unwrap());
    let app = json!({"kind": "Application", "metadata": {"name": "a"}, "spec": {"components": [
        {"name": "settings", "type": "configfile", "properties": {"content": "x=1"}, "traits": [{"type": "labels", "properties": {"team": "blue"}}]}]}});
    let rendered = render(&app, &defs).unwrap();
    let cm = &rendered.components[0].workload;
    assert_eq!(cm["data"], json!({"app.conf": "x=1"}));
    assert_eq!(cm["metadata"]["labels"]["team"], "blue");
    assert_eq!(cm["metadata"]["namespace"], "default");
}
