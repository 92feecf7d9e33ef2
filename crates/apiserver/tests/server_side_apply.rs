//! Server-side apply with the real clients: `kubectl apply --server-side` by two field
//! managers on one object (ownership, 409 conflicts naming the manager and field,
//! `--force-conflicts`, removal of fields a manager stops applying, the client-side to
//! server-side migration kubectl performs), and the Python `kubernetes` client's apply patch.

mod common;

use std::process::Command;

use common::TestServer;
use serde_json::{json, Value};

fn deployment(labels: &str, replicas: Option<u32>, image: &str) -> String {
    let replicas = replicas.map(|r| format!("  replicas: {r}\n")).unwrap_or_default();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: ssa\n  labels: {labels}\nspec:\n{replicas}  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: nginx\n        image: {image}\n"
    )
}

fn get(server: &TestServer, what: &[&str]) -> Value {
    let mut args = vec!["get", "-n", "ssa", "-o", "json", "--show-managed-fields"];
    args.extend_from_slice(what);
    serde_json::from_str(&server.kubectl(&args)).expect("kubectl get -o json")
}

/// manager → (operation, fieldsV1) from `metadata.managedFields`.
fn owners(object: &Value) -> Vec<(String, String, Value)> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| (e["manager"].as_str().unwrap_or("").to_string(), e["operation"].as_str().unwrap_or("").to_string(), e["fieldsV1"].clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn fields_of(object: &Value, manager: &str) -> Value {
    owners(object).into_iter().find(|(m, _, _)| m == manager).map(|(_, _, f)| f).unwrap_or(Value::Null)
}

#[test]
fn two_field_managers_share_a_deployment_through_kubectl() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "ssa"]);
    let alice = server.file("alice.yaml", deployment("{app: web, tier: front}", Some(2), "nginx:1.27"));
    let out = server.kubectl(&["apply", "--server-side", "--field-manager=alice", "-f", alice.to_str().unwrap()]);
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");

    // Bob applies only a label: each owns its own fields.
    let bob = server.file("bob.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: ssa\n  labels: {team: bob}\n");
    server.kubectl(&["apply", "--server-side", "--field-manager=bob", "-f", bob.to_str().unwrap()]);
    let d = get(&server, &["deployment", "web"]);
    assert_eq!(d["metadata"]["labels"], json!({"app": "web", "tier": "front", "team": "bob"}));
    let ops: Vec<(String, String)> = owners(&d).into_iter().map(|(m, o, _)| (m, o)).collect();
    assert!(ops.contains(&("alice".into(), "Apply".into())) && ops.contains(&("bob".into(), "Apply".into())), "{ops:?}");
    assert_eq!(fields_of(&d, "bob"), json!({"f:metadata": {"f:labels": {"f:team": {}}}}));
    let alice_fields = fields_of(&d, "alice");
    assert_eq!(alice_fields["f:spec"]["f:replicas"], json!({}));
    assert_eq!(alice_fields["f:spec"]["f:template"]["f:spec"]["f:containers"][r#"k:{"name":"nginx"}"#]["f:image"], json!({}));
    assert_eq!(d["metadata"]["managedFields"][0]["fieldsType"], "FieldsV1");

    // Bob changing alice's replicas is a conflict naming alice and the field.
    let bob_replicas = server.file("bob2.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: ssa\n  labels: {team: bob}\nspec:\n  replicas: 5\n");
    let out = server.kubectl_output(&["apply", "--server-side", "--field-manager=bob", "-f", bob_replicas.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(r#"Apply failed with 1 conflict: conflict with "alice": .spec.replicas"#), "{stderr}");
    assert_eq!(get(&server, &["deployment", "web"])["spec"]["replicas"], 2);

    // --force-conflicts takes the field over.
    server.kubectl(&["apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", bob_replicas.to_str().unwrap()]);
    let d = get(&server, &["deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(fields_of(&d, "bob")["f:spec"]["f:replicas"], json!({}));
    assert!(fields_of(&d, "alice")["f:spec"].get("f:replicas").is_none());

    // Alice drops replicas (bob owns it: kept) and her tier label (no one else owns it: removed).
    let alice2 = server.file("alice2.yaml", deployment("{app: web}", None, "nginx:1.27"));
    server.kubectl(&["apply", "--server-side", "--field-manager=alice", "-f", alice2.to_str().unwrap()]);
    let d = get(&server, &["deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(d["metadata"]["labels"], json!({"app": "web", "team": "bob"}));

    // A server-side dry run changes nothing.
    let alice3 = server.file("alice3.yaml", deployment("{app: web}", None, "nginx:1.28"));
    server.kubectl(&["apply", "--server-side", "--field-manager=alice", "--dry-run=server", "-f", alice3.to_str().unwrap()]);
    let image = server.kubectl(&["get", "-n", "ssa", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
    assert_eq!(image, "nginx:1.27");

    // kubectl hides managedFields in -o yaml unless asked, as it does with Kubernetes.
    assert!(!server.kubectl(&["get", "-n", "ssa", "deployment", "web", "-o", "yaml"]).contains("managedFields"));
    assert!(server.kubectl(&["get", "-n", "ssa", "deployment", "web", "-o", "yaml", "--show-managed-fields"]).contains("managedFields"));
}

#[test]
fn client_side_apply_migrates_to_server_side_apply() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "ssa"]);
    let v1 = server.file("cm1.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ssa\ndata:\n  a: \"1\"\n  b: \"2\"\n");
    server.kubectl(&["apply", "-f", v1.to_str().unwrap()]);
    let cm = get(&server, &["configmap", "settings"]);
    let csa = fields_of(&cm, "kubectl-client-side-apply");
    assert_eq!(csa["f:data"]["f:b"], json!({}), "{cm}");

    // kubectl moves the client-side-apply ownership to its server-side manager, so a field
    // left out of the next configuration is removed, as on Kubernetes.
    let v2 = server.file("cm2.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ssa\ndata:\n  a: \"1\"\n");
    let out = server.kubectl(&["apply", "--server-side", "-f", v2.to_str().unwrap()]);
    assert_eq!(out.trim(), "configmap/settings serverside-applied");
    let cm = get(&server, &["configmap", "settings"]);
    assert_eq!(cm["data"], json!({"a": "1"}), "{cm}");
    assert_eq!(fields_of(&cm, "kubectl")["f:data"], json!({"f:a": {}}));
}

#[test]
fn apply_requests_are_checked_like_kubernetes() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "ssa"]);
    let body = server.file("cm.json", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"}}"#);
    let path = "/api/v1/namespaces/ssa/configmaps/c";
    let (code, status) = server.request("PATCH", path, "application/apply-patch+yaml", Some(&body));
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["message"], r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#);
    let (code, status) = server.request("PATCH", &format!("{path}?force=true"), "application/merge-patch+json", Some(&body));
    assert_eq!(code, 422, "{status}");

    // Create by apply, then an update recorded under the manager from ?fieldManager.
    let (code, created) = server.request("PATCH", &format!("{path}?fieldManager=tool"), "application/apply-patch+yaml", Some(&body));
    assert_eq!(code, 201, "{created}");
    assert_eq!(owners(&created)[0].0, "tool");
    let merge = server.file("merge.json", r#"{"data":{"k":"w"}}"#);
    let (code, updated) = server.request("PATCH", &format!("{path}?fieldManager=editor"), "application/merge-patch+json", Some(&merge));
    assert_eq!(code, 200, "{updated}");
    let editor = owners(&updated).into_iter().find(|(m, _, _)| m == "editor").expect("an Update entry for editor");
    assert_eq!((editor.1.as_str(), editor.2.clone()), ("Update", json!({"f:data": {"f:k": {}}})));
    let (code, status) = server.request("PATCH", &format!("{path}?fieldManager=tool"), "application/apply-patch+yaml", Some(&body));
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(status["details"]["causes"][0]["reason"], "FieldManagerConflict");
    assert_eq!(status["details"]["causes"][0]["field"], ".data.k");
    assert!(status["message"].as_str().unwrap_or("").starts_with(r#"Apply failed with 1 conflict: conflict with "editor" using v1 at "#), "{status}");

    // Apply through the status subresource owns only the status; a dry run stores nothing.
    let deploy = server.file("d.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: d}\n  template:\n    metadata:\n      labels: {app: d}\n    spec:\n      containers:\n      - {name: c, image: busybox}\n");
    let path = "/apis/apps/v1/namespaces/ssa/deployments/d";
    let (code, dry) = server.request("PATCH", &format!("{path}?fieldManager=tool&dryRun=All"), "application/apply-patch+yaml", Some(&deploy));
    assert_eq!(code, 201, "{dry}");
    assert_eq!(server.request("GET", path, "application/json", None).0, 404);
    let (code, created) = server.request("PATCH", &format!("{path}?fieldManager=tool"), "application/apply-patch+yaml", Some(&deploy));
    assert_eq!(code, 201, "{created}");
    let status_body = server.file("s.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 7\nstatus:\n  observedGeneration: 1\n");
    let (code, updated) = server.request("PATCH", &format!("{path}/status?fieldManager=controller"), "application/apply-patch+yaml", Some(&status_body));
    assert_eq!(code, 200, "{updated}");
    assert_eq!((updated["spec"]["replicas"].clone(), updated["status"]["observedGeneration"].clone()), (json!(1), json!(1)));
    let entry = updated["metadata"]["managedFields"].as_array().unwrap().iter().find(|e| e["manager"] == "controller").cloned().unwrap();
    assert_eq!((entry["subresource"].clone(), entry["fieldsV1"].clone()), (json!("status"), json!({"f:status": {"f:observedGeneration": {}}})));
}

#[test]
fn python_client_applies_with_a_field_manager() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "ssa"]);
    let script = r#"
import sys, kubernetes
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
core = client.CoreV1Api()
body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "py"}, "data": {"a": "1"}}
cm = core.patch_namespaced_config_map("py", "ssa", body, field_manager="py-mgr", _content_type="application/apply-patch+yaml")
assert cm.data == {"a": "1"}, cm.data
assert [(m.manager, m.operation) for m in cm.metadata.managed_fields] == [("py-mgr", "Apply")]
body["data"] = {"a": "2"}
try:
    core.patch_namespaced_config_map("py", "ssa", body, field_manager="other", _content_type="application/apply-patch+yaml")
    raise SystemExit("no conflict")
except client.exceptions.ApiException as e:
    assert e.status == 409, e.status
    assert 'conflict with \\"py-mgr\\": .data.a' in e.body, e.body
cm = core.patch_namespaced_config_map("py", "ssa", body, field_manager="other", force=True, _content_type="application/apply-patch+yaml")
assert cm.data == {"a": "2"}
print("ok")
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(server.kubeconfig()).output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.trim_end().ends_with("ok"), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
}
