//! OAM Applications on a real cluster (`tug up`, real pods; see `tug-testkit`): KubeVela's
//! example Applications of built-in types reach `running`; a spec change makes revision v2
//! and rolls the Deployment, removing a trait removes what it made, a rollback puts v1 back;
//! a user's Go-template ComponentDefinition, a suspended workflow resumed with `tug app
//! resume`, a health policy; unknown types, a broken template and an unsupported policy give
//! conditions that say so, and the Application recovers once fixed. Needs root (pods).

use std::path::PathBuf;

use serde_json::{json, Value};
use tug_testkit::{text, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

/// The KubeVela examples whose types are all built in, deployed side by side.
const EXAMPLES: [&str; 7] = [
    "examples/advanced-cue/app2.yaml",
    "examples/core-definitions/component/k8s-objects.yaml",
    "examples/core-definitions/trait/storage.yaml",
    "examples/enduser/sample-manual.yaml",
    "examples/traits/labels/example.yaml",
    "examples/traits/env/multiple-containers.yaml",
    "usage-examples/application-with-storage.yaml",
];

fn conformance() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    [workspace.join("../shared/conformance/kubevela"), PathBuf::from("/work/shared/conformance/kubevela")]
        .into_iter()
        .find(|p| p.join("INDEX.md").is_file())
        .expect("the KubeVela conformance examples are present")
}

/// The examples name images from Docker Hub (nginx, fluentd, oamdev/testapp, …), which this
/// machine cannot reach: every image becomes the busybox the test cluster has loaded
/// (`imagePullPolicy: Never`, so no pull is attempted) running `sleep`, which keeps each
/// container up as the original server would be. Nothing else in the example changes.
fn with_local_images(app: &mut Value) {
    let busybox = |p: &mut Value| {
        if p.get("image").is_some() {
            p["image"] = json!("busybox:latest");
            p["imagePullPolicy"] = json!("Never");
            if p["cmd"][0] != "sleep" {
                p["cmd"] = json!(["sleep", "3600"]);
            }
        }
    };
    for c in app["spec"]["components"].as_array_mut().into_iter().flatten() {
        busybox(&mut c["properties"]);
        for t in c["traits"].as_array_mut().into_iter().flatten() {
            if t["type"] == "sidecar" {
                busybox(&mut t["properties"]);
            }
        }
    }
}

fn tug(cluster: &Cluster, args: &[&str]) -> String {
    let out = cluster.tug_output(args);
    assert!(out.status.success(), "tug {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn app(cluster: &Cluster, namespace: &str, name: &str) -> Value {
    serde_json::from_slice(&cluster.kubectl_output(&["get", "application", name, "-n", namespace, "-o", "json"]).stdout).unwrap_or_default()
}

fn phase(cluster: &Cluster, namespace: &str, name: &str) -> String {
    app(cluster, namespace, name)["status"]["status"].as_str().unwrap_or_default().to_string()
}

fn condition(app: &Value, kind: &str) -> Value {
    app["status"]["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == kind).cloned().unwrap_or_default()
}

fn deploy(cluster: &Cluster, namespace: &str, object: &Value) {
    let file = cluster.dir().join(format!("{namespace}-{}.json", object["metadata"]["name"].as_str().unwrap_or("x")));
    std::fs::write(&file, object.to_string()).unwrap();
    tug(cluster, &["app", "deploy", "-n", namespace, "-f", file.to_str().unwrap()]);
}

fn get(cluster: &Cluster, namespace: &str, kind: &str, name: &str) -> Value {
    serde_json::from_str(&cluster.kubectl(&["get", kind, name, "-n", namespace, "-o", "json"])).unwrap()
}

fn exists(cluster: &Cluster, namespace: &str, kind: &str, name: &str) -> bool {
    cluster.kubectl_output(&["get", kind, name, "-n", namespace]).status.success()
}

#[test]
fn kubevela_examples_of_built_in_types_reach_running() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let cluster = Cluster::up(TUG);
    let mut apps = Vec::new();
    for (i, file) in EXAMPLES.iter().enumerate() {
        let text = std::fs::read_to_string(conformance().join(file)).unwrap();
        let mut object: Value = serde_saphyr::from_str(&text).unwrap();
        with_local_images(&mut object);
        let namespace = format!("example-{i}");
        cluster.kubectl(&["create", "namespace", &namespace]);
        deploy(&cluster, &namespace, &object);
        apps.push((namespace, object["metadata"]["name"].as_str().unwrap().to_string(), *file));
    }
    for (namespace, name, file) in &apps {
        cluster.eventually(&format!("{file} is running"), 90, || phase(&cluster, namespace, name) == "running");
    }
    // What they rendered is there, owned by and labelled for the application.
    let deployment = get(&cluster, "example-3", "deployment", "frontend");
    assert_eq!(deployment["spec"]["replicas"], 2, "the scaler trait");
    assert_eq!(deployment["metadata"]["ownerReferences"][0]["kind"], "Application");
    assert_eq!(deployment["metadata"]["labels"]["app.oam.dev/name"], "website");
    let containers: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(containers, ["frontend", "sidecar-test"]);
    assert!(exists(&cluster, "example-0", "service", "express-server"), "the expose trait's Service");
    assert!(exists(&cluster, "default", "namespace", "test1") && exists(&cluster, "default", "namespace", "test2"), "k8s-objects' namespaces");
    assert!(exists(&cluster, "example-2", "pvc", "test1"), "the storage trait's claim");
    let pod = cluster.kubectl(&["get", "pods", "-n", "example-2", "-l", "app.oam.dev/component=express-server", "-o", "jsonpath={.items[0].metadata.name}"]);
    let env = cluster.kubectl(&["exec", "-n", "example-2", &pod, "--", "sh", "-c", "echo $TEST_ENV $TEST_SECRET; cat /test/mount/cm/keypath"]);
    assert_eq!(env.trim(), "value1 value1\nvalue1", "configMap and secret keys as env and files");

    // kubectl shows KubeVela's printer columns; `tug app ls` one row per component.
    let table = cluster.kubectl(&["get", "app", "-n", "example-3"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "COMPONENT", "TYPE", "PHASE", "HEALTHY", "STATUS", "AGE"]);
    assert!(table.lines().nth(1).unwrap().contains("running"), "{table}");
    let ls = tug(&cluster, &["app", "ls", "-n", "example-3"]);
    let rows: Vec<Vec<&str>> = ls.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0][..6], ["APP", "COMPONENT", "TYPE", "TRAITS", "PHASE", "HEALTHY"]);
    assert_eq!(rows[1][..6], ["website", "frontend", "webservice", "scaler,sidecar", "running", "healthy"], "{ls}");
    assert_eq!(rows[2][..5], ["├─", "backend", "worker", "running", "healthy"], "{ls}");
    let status = tug(&cluster, &["app", "status", "website", "-n", "example-3"]);
    assert!(status.contains("Status:       running") && status.contains("Revision:     website-v1"), "{status}");

    // Deleting an application deletes what it applied.
    tug(&cluster, &["app", "delete", "k8s-objects-app", "-n", "example-1"]);
    tug(&cluster, &["app", "delete", "website", "-n", "example-3"]);
    cluster.eventually("the applications' objects are gone", 30, || {
        !exists(&cluster, "default", "namespace", "test1") && !exists(&cluster, "example-3", "deployment", "frontend")
    });
}

fn shop(image_tag_env: &str, traits: Value) -> Value {
    json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application", "metadata": {"name": "shop"}, "spec": {"components": [
        {"name": "web", "type": "webservice", "properties": {"image": "busybox:latest", "imagePullPolicy": "Never", "cmd": ["sleep", "3600"], "port": 80,
            "env": [{"name": "VERSION", "value": image_tag_env}]}, "traits": traits}]}})
}

fn revision(cluster: &Cluster) -> String {
    app(cluster, "default", "shop")["status"]["latestRevision"]["name"].as_str().unwrap_or_default().to_string()
}

#[test]
fn updates_make_revisions_traits_go_with_their_objects_and_rollback_restores() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let cluster = Cluster::up(TUG);
    let traits = json!([{"type": "scaler", "properties": {"replicas": 2}}, {"type": "expose", "properties": {"port": [80]}}]);
    deploy(&cluster, "default", &shop("1", traits.clone()));
    cluster.eventually("shop v1 is running", 60, || phase(&cluster, "default", "shop") == "running");
    assert_eq!(revision(&cluster), "shop-v1");
    assert!(exists(&cluster, "default", "service", "web"), "the expose trait's Service");
    let first_set = get(&cluster, "default", "deployment", "web")["metadata"]["annotations"]["deployment.kubernetes.io/revision"].clone();

    // A changed property: revision v2, and the Deployment rolls to a new ReplicaSet.
    deploy(&cluster, "default", &shop("2", traits.clone()));
    cluster.eventually("shop-v2 is the latest revision and running", 60, || revision(&cluster) == "shop-v2" && phase(&cluster, "default", "shop") == "running");
    let deployment = get(&cluster, "default", "deployment", "web");
    assert_eq!(deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "2");
    assert_ne!(deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"], first_set, "a new ReplicaSet revision");
    let v2 = get(&cluster, "default", "applicationrevision", "shop-v2");
    assert_eq!(v2["spec"]["application"]["spec"]["components"][0]["properties"]["env"][0]["value"], "2");
    assert!(v2["spec"]["resources"].as_array().is_some_and(|r| r.iter().any(|o| o["kind"] == "Service")), "the revision holds what it rendered");

    // Removing the expose trait removes its Service (and the scaler's replicas go with it).
    deploy(&cluster, "default", &shop("2", json!([{"type": "scaler", "properties": {"replicas": 2}}])));
    cluster.eventually("the expose trait's Service is gone", 30, || !exists(&cluster, "default", "service", "web"));
    assert_eq!(revision(&cluster), "shop-v3");

    // Rollback to v1: its spec comes back (and with it the Service); no new revision.
    let out = tug(&cluster, &["app", "rollback", "shop", "--revision", "1"]);
    assert_eq!(out, "application.core.oam.dev/shop rolled back to revision shop-v1\n");
    cluster.eventually("v1 is back", 60, || revision(&cluster) == "shop-v1" && exists(&cluster, "default", "service", "web") && phase(&cluster, "default", "shop") == "running");
    assert_eq!(get(&cluster, "default", "deployment", "web")["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "1");
    let revisions = cluster.kubectl(&["get", "applicationrevisions", "-l", "app.oam.dev/name=shop", "-o", "name"]);
    assert_eq!(revisions.lines().count(), 3, "{revisions}");
    let missing = cluster.tug_output(&["app", "rollback", "shop", "--revision", "9"]);
    assert!(!missing.status.success());
    assert!(text(&missing).contains("\"9\" is not a revision of Application \"shop\""), "{}", text(&missing));
}

/// A user's component type in Go-template form: a Job that writes a greeting.
const GREETER: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: ComponentDefinition
metadata:
  name: greeter
  annotations:
    definition.oam.dev/description: Says hello once.
spec:
  workload:
    definition: {apiVersion: batch/v1, kind: Job}
  schematic:
    gotemplate:
      parameter:
        required: [who]
        properties:
          who: {type: string}
          times: {type: integer, default: 1}
      template: |
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: {{ .context.name }}
        spec:
          completions: {{ .parameter.times }}
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: greet
                image: busybox:latest
                imagePullPolicy: Never
                command: [echo, {{ printf "hello %s" .parameter.who | quote }}]
"#;

#[test]
fn user_definitions_workflows_policies_and_bad_input() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let cluster = Cluster::up(TUG);
    cluster.apply(GREETER);
    let defs = tug(&cluster, &["app", "show-definitions"]);
    assert!(defs.lines().any(|l| l.starts_with("greeter ") && l.contains("namespace default") && l.contains("Says hello once.")), "{defs}");
    assert!(defs.lines().any(|l| l.starts_with("statefulservice ") && l.contains("built-in")), "{defs}");

    // A workflow: the greeter, then a suspend, then a worker; a health policy over both.
    let worker = json!({"name": "tail", "type": "worker", "properties": {"image": "busybox:latest", "imagePullPolicy": "Never", "cmd": ["sleep", "3600"]}});
    let flow = json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application", "metadata": {"name": "flow"}, "spec": {
        "components": [{"name": "hello", "type": "greeter", "properties": {"who": "oam"}}, worker],
        "policies": [{"name": "everything", "type": "health", "properties": {"components": ["hello", "tail"]}}],
        "workflow": {"steps": [
            {"name": "greet", "type": "apply-component", "properties": {"component": "hello"}},
            {"name": "approve", "type": "suspend"},
            {"name": "tail", "type": "apply-component"}]}}});
    deploy(&cluster, "default", &flow);
    cluster.eventually("the workflow is suspended", 60, || phase(&cluster, "default", "flow") == "workflowSuspending");
    assert_eq!(get(&cluster, "default", "job", "hello")["status"]["succeeded"], 1, "the user's definition rendered a Job that ran");
    let logs = cluster.kubectl(&["logs", "job/hello"]);
    assert_eq!(logs.trim(), "hello oam");
    assert!(!exists(&cluster, "default", "deployment", "tail"), "a step after the suspend has not run");
    let policy = &app(&cluster, "default", "flow")["status"]["policy"][0];
    assert_eq!((policy["healthy"].clone(), policy["message"].clone()), (json!(false), json!("1/2 components healthy; unhealthy: tail")));
    assert_eq!(tug(&cluster, &["app", "resume", "flow"]), "application.core.oam.dev/flow resumed\n");
    cluster.eventually("the resumed workflow runs to the end", 60, || phase(&cluster, "default", "flow") == "running");
    let status = app(&cluster, "default", "flow")["status"].clone();
    assert_eq!(status["policy"][0]["healthy"], true);
    let phases: Vec<&str> = status["workflow"]["steps"].as_array().unwrap().iter().map(|s| s["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["succeeded", "succeeded", "succeeded"]);

    // Bad input: each is a condition that names the problem, and the app recovers once fixed.
    let broken = |component: Value, policies: Value| json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application", "metadata": {"name": "bad"},
        "spec": {"components": [component], "policies": policies}});
    let rendered_message = |cluster: &Cluster| condition(&app(cluster, "default", "bad"), "Rendered")["message"].as_str().unwrap_or_default().to_string();
    deploy(&cluster, "default", &broken(json!({"name": "db", "type": "mysql"}), json!([])));
    cluster.eventually("an unknown type is reported", 30, || rendered_message(&cluster).contains("unknown component type \"mysql\""));
    assert_eq!(phase(&cluster, "default", "bad"), "rendering");
    let worker_with = |t: Value| json!({"name": "w", "type": "worker", "properties": {"image": "busybox:latest", "imagePullPolicy": "Never", "cmd": ["sleep", "3600"]}, "traits": [t]});
    deploy(&cluster, "default", &broken(worker_with(json!({"type": "route"})), json!([])));
    cluster.eventually("an unknown trait is reported", 30, || rendered_message(&cluster).contains("unknown trait type \"route\""));
    deploy(&cluster, "default", &broken(worker_with(json!({"type": "labels", "properties": {"a": "b"}})), json!([{"name": "where", "type": "topology"}])));
    cluster.eventually("an unsupported policy is reported", 30, || rendered_message(&cluster).contains("policy type \"topology\" is not supported by tug"));
    let bad_template = GREETER.replace("name: greeter", "name: greeter-broken").replace("{{ .context.name }}", "{{ .context.name ");
    cluster.apply(&bad_template);
    deploy(&cluster, "default", &broken(json!({"name": "g", "type": "greeter-broken", "properties": {"who": "x"}}), json!([])));
    cluster.eventually("a broken template is reported", 30, || rendered_message(&cluster).contains("ComponentDefinition \"greeter-broken\": spec.schematic.gotemplate.template"));
    cluster.apply(&GREETER.replace("name: greeter", "name: greeter-broken"));
    cluster.eventually("the fixed definition is used", 60, || phase(&cluster, "default", "bad") == "running");
    assert_eq!(condition(&app(&cluster, "default", "bad"), "Rendered")["status"], "True");
}
