//! kubectl (the machine's /usr/bin/kubectl, which picks kubectl 1.33 from
//! the version the server reports) against a real server with the generated
//! kubeconfig.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::TestServer;

const MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: t1
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
        env:
        - {name: MODE, value: "a"}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: t1
spec:
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: t1
data:
  mode: "a"
"#;

#[test]
fn kubectl_reads_version_and_discovery() {
    let server = TestServer::start();
    let version = server.kubectl(&["version", "-o", "json"]);
    let version: serde_json::Value = serde_json::from_str(&version).expect("version json");
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.33.0");
    let resources = server.kubectl(&["api-resources"]);
    for line in [
        "deployments ",
        "deploy ",
        "apps/v1",
        "configmaps ",
        "horizontalpodautoscalers",
    ] {
        assert!(
            resources.contains(line),
            "api-resources lacks {line:?}:\n{resources}"
        );
    }
    let namespaced = server.kubectl(&["api-resources", "--namespaced=false", "-o", "name"]);
    assert!(
        namespaced.lines().any(|l| l == "namespaces") && !namespaced.lines().any(|l| l == "pods")
    );
}

#[test]
fn kubectl_apply_with_validation_get_patch_label_delete() {
    let server = TestServer::start();
    server.kubectl(&["create", "namespace", "t1"]);
    let manifest = server.file("app.yaml", MANIFEST);
    let manifest = manifest.to_str().expect("utf-8 path");

    let first = server.kubectl(&["apply", "-f", manifest]);
    assert!(
        first.contains("deployment.apps/web created")
            && first.contains("service/web created")
            && first.contains("configmap/web-config created"),
        "{first}"
    );
    let again = server.kubectl(&["apply", "-f", manifest]);
    assert_eq!(again.matches("unchanged").count(), 3, "{again}");
    let changed = server.file("app2.yaml", MANIFEST.replace("mode: \"a\"", "mode: \"b\""));
    let configured = server.kubectl(&[
        "apply",
        "-f",
        changed.to_str().expect("utf-8 path"),
    ]);
    assert!(
        configured.contains("configmap/web-config configured")
            && configured.contains("deployment.apps/web unchanged"),
        "{configured}"
    );

    let yaml = server.kubectl(&["get", "deploy", "-n", "t1", "-o", "yaml"]);
    for expected in [
        "maxSurge: 25%",
        "revisionHistoryLimit: 10",
        "progressDeadlineSeconds: 600",
        "imagePullPolicy: IfNotPresent",
        "protocol: TCP",
        "generation: 1",
        "uid: ",
    ] {
        assert!(
            yaml.contains(expected),
            "get -o yaml lacks {expected:?}:\n{yaml}"
        );
    }
    let all = server.kubectl(&["get", "pods,svc,cm", "-A"]);
    assert!(
        all.contains("service/web")
            && all.contains("ClusterIP")
            && all.contains("10.43.")
            && all.contains("80/TCP"),
        "{all}"
    );
    assert!(all.contains("configmap/web-config"), "{all}");
    let deploys = server.kubectl(&["get", "deploy", "-n", "t1"]);
    assert!(
        deploys.starts_with("NAME") && deploys.contains("UP-TO-DATE") && deploys.contains("0/2"),
        "{deploys}"
    );

    server.kubectl(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "t1",
        "--type=strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}"#,
    ]);
    server.kubectl(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "t1",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ]);
    server.kubectl(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "t1",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/revisionHistoryLimit","value":5}]"#,
    ]);
    let fields = server.kubectl(&["get", "deploy", "web", "-n", "t1", "-o", "jsonpath={.spec.replicas} {.spec.revisionHistoryLimit} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].name} {.metadata.generation}"]);
    assert_eq!(fields, "3 5 nginx:1.28 MODE 4");
    server.kubectl(&["scale", "deploy", "web", "-n", "t1", "--replicas=1"]);
    assert_eq!(
        server.kubectl(&[
            "get",
            "deploy",
            "web",
            "-n",
            "t1",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "1"
    );

    server.kubectl(&["label", "cm", "web-config", "-n", "t1", "tier=front"]);
    server.kubectl(&["annotate", "cm", "web-config", "-n", "t1", "note=hello"]);
    let labelled = server.kubectl(&[
        "get",
        "cm",
        "-n",
        "t1",
        "-l",
        "tier=front",
        "-o",
        "jsonpath={.items[*].metadata.annotations.note}",
    ]);
    assert_eq!(labelled, "hello");

    server.kubectl(&["delete", "-f", manifest]);
    let left = server.kubectl_output(&["get", "deploy", "web", "-n", "t1"]);
    assert!(!left.status.success());
    assert!(
        String::from_utf8_lossy(&left.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&left.stderr)
    );
}

#[test]
fn kubectl_get_watch_sees_a_change() {
    let server = TestServer::start();
    server.kubectl(&["create", "configmap", "watched", "--from-literal=a=1"]);
    let mut watch = server
        .kubectl_command(&["get", "cm", "watched", "-w", "--request-timeout=20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl -w starts");
    let stdout = watch.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines_rx
        .recv_timeout(Duration::from_secs(15))
        .expect("watch prints the header");
    assert!(first.starts_with("NAME"), "{first}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    let mut changed = false;
    while Instant::now() < deadline
        && seen
            .iter()
            .filter(|l: &&String| l.starts_with("watched"))
            .count()
            < 2
    {
        if let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(300)) {
            seen.push(line);
        } else if !changed && !seen.is_empty() {
            server.kubectl(&["label", "cm", "watched", "changed=yes"]);
            changed = true;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(changed, "the watch printed nothing: {seen:?}");
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("watched")).count(),
        2,
        "{seen:?}"
    );
}

#[test]
fn kubectl_explain_and_strict_validation_use_the_served_openapi() {
    let server = TestServer::start();
    let explain = server.kubectl(&["explain", "deployment.spec.strategy"]);
    assert!(explain.contains("rollingUpdate") && explain.contains("DeploymentStrategy"), "{explain}");
    let ports = server.kubectl(&["explain", "pods.spec.containers.ports"]);
    assert!(ports.contains("containerPort"), "{ports}");

    server.kubectl(&["create", "namespace", "t1"]);
    let typo = server.file("typo.yaml", MANIFEST.replace("replicas: 2", "replicaz: 2"));
    let out = server.kubectl_output(&["apply", "-f", typo.to_str().expect("utf-8 path")]);
    assert!(!out.status.success(), "a misspelled field must be refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("replicaz"), "the error should name the unknown field: {err}");
}
