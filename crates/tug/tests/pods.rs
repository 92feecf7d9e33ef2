//! Pods on a real node: `tug up` (store, API server, scheduler, controllers and agent in
//! one process) driven with kubectl, the sample image built FROM scratch with Debian's
//! static busybox (`scripts/busybox-image.sh`). The pod's address is reached from the
//! host over the node's bridge. Needs root (namespaces, veths, cgroups, mounts).
//!
//! One test walks the whole life of a node (clusters take turns on a machine-wide lock,
//! see `tug-testkit`): the classic web server + log shipper pod,
//! an agent restart that keeps the containers, a crash loop, a missing ConfigMap key, an
//! agent stopped while preparing a container, and deletion that leaves no process, veth or mount behind. The guard cleans up even when
//! an assertion fails.

use serde_json::Value;
use tug_testkit::{http_get, try_get, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

const WEB: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: shared, emptyDir: {}}]
  containers:
  - name: server
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'hostname > /www/host-server; echo hello from web > /www/index.html; exec httpd -f -v -p 80 -h /www 2>> /www/access.log']
    volumeMounts: [{name: shared, mountPath: /www}]
  - name: shipper
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'hostname > /www/host-shipper; until wget -qO /www/fetched http://127.0.0.1/; do sleep 0.2; done; exec tail -F /www/access.log']
    volumeMounts: [{name: shared, mountPath: /www}]
"#;

const BROKEN: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {present: "1"}
---
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox:latest, imagePullPolicy: Never, command: [sh, -c, 'exit 3']}
---
apiVersion: v1
kind: Pod
metadata: {name: nokey}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    command: [sleep, '60']
    env: [{name: X, valueFrom: {configMapKeyRef: {name: settings, key: absent}}}]
"#;

fn restart_counts(pod: &Value) -> Vec<i64> {
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["restartCount"].as_i64().unwrap_or(-1))
        .collect()
}

fn waiting_reason(pod: &Value) -> (String, String) {
    let state = &pod["status"]["containerStatuses"][0]["state"]["waiting"];
    (
        state["reason"].as_str().unwrap_or_default().to_string(),
        state["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn a_node_runs_pods_keeps_them_across_restarts_and_cleans_up() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let mut node = Cluster::up(TUG);

    // The classic pod: one hostname, one localhost, one shared volume.
    node.apply(WEB);
    node.kubectl(&["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"]);
    let pod = node.pod("web");
    let ip = pod["status"]["podIP"].as_str().expect("podIP").to_string();
    assert!(ip.starts_with("10.42."), "{ip}");
    assert_eq!(http_get(&ip, 80, "/index.html"), "hello from web");
    assert_eq!(http_get(&ip, 80, "/host-server"), "web");
    node.eventually("the shipper reached the server on 127.0.0.1", 10, || {
        try_get(&ip, 80, "/fetched").as_deref() == Some("hello from web")
    });
    assert_eq!(http_get(&ip, 80, "/host-shipper"), "web");
    assert_eq!(restart_counts(&pod), [0, 0]);
    let table = node.kubectl(&["get", "pod", "web"]);
    assert!(table.contains("2/2") && table.contains("Running"), "{table}");

    // The agent restarts; the containers do not.
    node.stop();
    assert_eq!(http_get(&ip, 80, "/index.html"), "hello from web", "serving while the agent is down");
    node.start();
    node.kubectl(&["wait", "--for=condition=Ready", "pod/web", "--timeout=30s"]);
    assert_eq!(restart_counts(&node.pod("web")), [0, 0]);
    assert_eq!(http_get(&ip, 80, "/index.html"), "hello from web");

    // A crashing container backs off; a missing ConfigMap key is a config error.
    node.apply(BROKEN);
    node.eventually("crash is in CrashLoopBackOff", 60, || {
        let pod = node.pod("crash");
        waiting_reason(&pod).0 == "CrashLoopBackOff"
            && pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 3
    });
    node.eventually("nokey reports its config error", 30, || {
        waiting_reason(&node.pod("nokey"))
            == (
                "CreateContainerConfigError".to_string(),
                "couldn't find key absent in ConfigMap default/settings".to_string(),
            )
    });

    // The agent stops while preparing a container (the attempt's directory is made, no
    // supervisor runs it yet): the restarted agent prepares it afresh.
    let nokey = node.pod("nokey")["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    node.stop();
    std::fs::create_dir_all(node.dir().join("agent/pods").join(&nokey).join("containers/c/0")).expect("attempt dir");
    node.start();
    node.kubectl(&["patch", "configmap", "settings", "-p", r#"{"data":{"absent":"now"}}"#]);
    node.kubectl(&["wait", "--for=condition=Ready", "pod/nokey", "--timeout=30s"]);

    // Deletion stops the containers and leaves nothing behind.
    let uids: Vec<String> = ["web", "crash", "nokey"]
        .iter()
        .map(|name| node.pod(name)["metadata"]["uid"].as_str().unwrap_or_default().to_string())
        .collect();
    node.kubectl(&["delete", "pods", "--all", "--timeout=60s"]);
    assert_eq!(node.kubectl(&["get", "pods", "-o", "name"]).trim(), "");
    assert_eq!(node.own_processes(), Vec::<i32>::new(), "container processes left");
    assert_eq!(node.own_mounts(), Vec::<String>::new(), "mounts left");
    let veths: Vec<String> = node.new_links().into_iter().filter(|l| l.starts_with("veth")).collect();
    assert_eq!(veths, Vec::<String>::new(), "veths left");
    let cgroups = node.pod_cgroups();
    for uid in &uids {
        assert!(!cgroups.contains(&format!("pod{uid}")), "cgroup of pod {uid} left:\n{cgroups}");
    }
}
