//! `tug apply -k` of a kustomization whose configMapGenerator feeds a Deployment through
//! `envFrom`, on a real node: the pods serve the generated value; a changed literal gives
//! a new hashed ConfigMap name, so the Deployment rolls and the new pods serve the new
//! value. Needs root (see `tug-testkit`).

use serde_json::Value;
use tug_testkit::{text, try_get, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: greeter}
spec:
  replicas: 2
  selector: {matchLabels: {app: greeter}}
  template:
    metadata: {labels: {app: greeter}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox:latest
        imagePullPolicy: Never
        command: [sh, -c, 'mkdir -p /www && echo "$GREETING" > /www/index.html && exec httpd -f -p 80 -h /www']
        envFrom: [{configMapRef: {name: settings}}]
"#;

fn kustomization(greeting: &str) -> String {
    format!("resources: [deployment.yaml]\nconfigMapGenerator:\n- name: settings\n  literals: [GREETING={greeting}]\n")
}

/// What every Ready, non-terminating greeter pod serves.
fn served(node: &Cluster) -> Vec<String> {
    let pods: Value = serde_json::from_str(&node.kubectl(&["get", "pods", "-l", "app=greeter", "-o", "json"])).expect("JSON");
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            let ip = p["status"]["podIP"].as_str().unwrap_or_default();
            try_get(ip, 80, "/index.html").unwrap_or_default()
        })
        .collect()
}

fn apply_k(node: &Cluster, dir: &std::path::Path) -> String {
    let out = node.tug_output(&["apply", "-k", dir.to_str().expect("utf-8")]);
    assert!(out.status.success(), "tug apply -k: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_changed_generated_config_map_rolls_the_deployment() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let node = Cluster::up(TUG);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("deployment.yaml"), DEPLOYMENT).expect("write");
    std::fs::write(dir.path().join("kustomization.yaml"), kustomization("hello")).expect("write");

    let first = apply_k(&node, dir.path());
    let map = first.lines().find_map(|l| l.strip_prefix("configmap/")).and_then(|l| l.split_whitespace().next()).expect("a configmap applied").to_string();
    assert!(map.starts_with("settings-") && map.len() == "settings-".len() + 10, "{first}");
    node.kubectl(&["rollout", "status", "deployment/greeter", "--timeout=90s"]);
    node.eventually("both pods serve hello", 30, || served(&node) == ["hello", "hello"]);

    std::fs::write(dir.path().join("kustomization.yaml"), kustomization("bonjour")).expect("write");
    let second = apply_k(&node, dir.path());
    let new_map = second.lines().find_map(|l| l.strip_prefix("configmap/")).and_then(|l| l.split_whitespace().next()).expect("a configmap applied").to_string();
    assert_ne!(new_map, map, "the hash did not change");
    let d: Value = serde_json::from_str(&node.kubectl(&["get", "deployment", "greeter", "-o", "json"])).expect("JSON");
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"], new_map.as_str());
    node.kubectl(&["rollout", "status", "deployment/greeter", "--timeout=90s"]);
    node.eventually("both pods serve bonjour", 30, || served(&node) == ["bonjour", "bonjour"]);
    let history = node.tug_output(&["rollout", "history", "deployment/greeter"]);
    assert_eq!(String::from_utf8_lossy(&history.stdout).lines().skip(2).count(), 2, "{}", text(&history));
    node.kubectl(&["delete", "deployment", "greeter"]);
    node.eventually("greeter's pods gone", 60, || served(&node).is_empty());
}
