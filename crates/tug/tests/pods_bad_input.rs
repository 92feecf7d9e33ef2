//! Pods that cannot run as asked, on `tug up` with kubectl: each gets the status, event
//! and message kubelet (or kube-scheduler) gives — an image that cannot be pulled, a
//! request no node can hold, a probe naming a port the container lacks, a hostPath that
//! does not exist — and deleting them leaves nothing behind. Needs root (see `pods.rs`).

use serde_json::Value;
use tug_testkit::Cluster;

const TUG: &str = env!("CARGO_BIN_EXE_tug");

const BAD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: noimage}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: "127.0.0.1:1/nope:1", imagePullPolicy: IfNotPresent}]
---
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers: [{name: c, image: busybox:latest, imagePullPolicy: Never, resources: {requests: {cpu: "1000"}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: badprobe}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    command: [sleep, '3600']
    readinessProbe: {httpGet: {port: nope}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: nohostpath}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: data, hostPath: {path: /nonexistent/tug-test, type: Directory}}]
  containers: [{name: c, image: busybox:latest, imagePullPolicy: Never, command: [sleep, '3600'], volumeMounts: [{name: data, mountPath: /data}]}]
"#;

fn events(node: &Cluster, pod: &str) -> Vec<(String, String)> {
    let list: Value = serde_json::from_str(&node.kubectl(&["get", "events", "--field-selector", &format!("involvedObject.name={pod}"), "-o", "json"])).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["reason"].as_str().unwrap_or_default().to_string(), e["message"].as_str().unwrap_or_default().to_string()))
        .collect()
}

fn waiting(node: &Cluster, pod: &str) -> String {
    node.pod(pod)["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str().unwrap_or_default().to_string()
}

#[test]
fn pods_that_cannot_run_say_why_as_kubelet_does() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let node = Cluster::up(TUG);
    node.apply(BAD);

    // An image that cannot be pulled: ErrImagePull, then back-off.
    node.eventually("noimage backs off pulling", 40, || waiting(&node, "noimage") == "ImagePullBackOff");
    let said = events(&node, "noimage");
    assert!(said.iter().any(|(r, m)| r == "Failed" && m.starts_with("Failed to pull image \"127.0.0.1:1/nope:1\"")), "{said:?}");
    assert!(said.iter().any(|(r, m)| r == "BackOff" && m == "Back-off pulling image \"127.0.0.1:1/nope:1\""), "{said:?}");

    // A request no node can hold is never scheduled.
    node.eventually("huge is unschedulable", 20, || {
        events(&node, "huge").iter().any(|(r, m)| r == "FailedScheduling" && m.contains("Insufficient cpu"))
    });
    assert_eq!(node.pod("huge")["status"]["conditions"][0]["reason"], "Unschedulable");

    // A probe on a port the container does not have errors; the pod never becomes Ready.
    node.eventually("badprobe's probe errors", 20, || {
        events(&node, "badprobe").iter().any(|(r, m)| r == "Unhealthy" && m == "Readiness probe errored: couldn't find port: nope in container c")
    });
    let pod = node.pod("badprobe");
    assert_eq!(pod["status"]["containerStatuses"][0]["ready"], false);
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);

    // A hostPath that does not exist: the volume cannot be set up, the container waits.
    node.eventually("nohostpath's mount fails", 20, || {
        events(&node, "nohostpath").iter().any(|(r, m)| {
            r == "FailedMount" && m == "MountVolume.SetUp failed for volume \"data\" : hostPath type check failed: /nonexistent/tug-test is not a directory"
        })
    });
    assert_eq!(waiting(&node, "nohostpath"), "ContainerCreating");
    assert!(!std::path::Path::new("/nonexistent/tug-test").exists());

    // Nothing is left once they are deleted.
    node.kubectl(&["delete", "pods", "--all", "--timeout=60s"]);
    assert_eq!(node.own_processes(), Vec::<i32>::new(), "processes left");
    assert_eq!(node.own_mounts(), Vec::<String>::new(), "mounts left");
    let veths: Vec<String> = node.new_links().into_iter().filter(|l| l.starts_with("veth")).collect();
    assert_eq!(veths, Vec::<String>::new(), "veths left");
}
