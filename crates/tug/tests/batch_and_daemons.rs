//! Batch and per-node workloads on a real node (`tug up`, busybox containers), driven
//! with kubectl: a Job runs its pods to completion (Complete, as kubectl wait sees it), a
//! DaemonSet puts one pod on the node and replaces it on a template change, a pod mounts a
//! PersistentVolume made by hand, and malformed StatefulSets, Jobs and CronJobs are
//! refused with field paths. Needs root.

use serde_json::Value;
use tug_testkit::{can_run_pods, text, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

const JOB: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: count}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox:latest, imagePullPolicy: Never, command: [sh, -c, 'echo counted; sleep 1']}
"#;

const DAEMON: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox:latest, imagePullPolicy: Never, command: [sleep, '3600'], env: [{name: VERSION, value: '1'}]}
"#;

fn daemon_pods(cluster: &Cluster) -> Vec<Value> {
    let pods: Value = serde_json::from_str(&cluster.kubectl(&["get", "pods", "-l", "app=agent", "-o", "json"])).unwrap();
    pods["items"].as_array().unwrap().iter().filter(|p| p["metadata"]["deletionTimestamp"].is_null()).cloned().collect()
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// `kubectl apply` of a manifest that must be refused; returns kubectl's message.
fn refused(cluster: &Cluster, yaml: &str) -> String {
    let file = cluster.dir().join("bad.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = cluster.kubectl_output(&["apply", "-f", file.to_str().unwrap()]);
    assert!(!out.status.success(), "accepted: {yaml}");
    text(&out)
}

#[test]
fn jobs_daemonsets_and_handmade_volumes_on_a_real_node() {
    if !can_run_pods() {
        return;
    }
    let cluster = Cluster::up(TUG);

    cluster.apply(JOB);
    cluster.apply(DAEMON);
    let wait = cluster.kubectl_output(&["wait", "--for=condition=complete", "job/count", "--timeout=90s"]);
    assert!(wait.status.success(), "{}", text(&wait));
    let job = cluster.get("job", "count");
    assert_eq!(job["status"]["succeeded"], 3, "{}", job["status"]);
    let pods: Value = serde_json::from_str(&cluster.kubectl(&["get", "pods", "-l", "job-name=count", "-o", "json"])).unwrap();
    let phases: Vec<&str> = pods["items"].as_array().unwrap().iter().map(|p| p["status"]["phase"].as_str().unwrap_or_default()).collect();
    assert_eq!(phases, ["Succeeded"; 3]);

    // One daemon pod, on the node, Ready; a new template replaces it.
    let node = cluster.kubectl(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]);
    cluster.eventually("the daemon pod is Ready", 60, || daemon_pods(&cluster).iter().filter(|p| ready(p)).count() == 1);
    let first = daemon_pods(&cluster).remove(0);
    assert_eq!(first["spec"]["nodeName"], node.as_str());
    let set = cluster.get("daemonset", "agent");
    assert_eq!((set["status"]["desiredNumberScheduled"].as_i64(), set["status"]["numberReady"].as_i64()), (Some(1), Some(1)), "{}", set["status"]);
    cluster.kubectl(&["set", "env", "daemonset/agent", "VERSION=2"]);
    cluster.eventually("the daemon pod is replaced by one of the new template", 60, || {
        let pods = daemon_pods(&cluster);
        pods.len() == 1 && ready(&pods[0]) && pods[0]["metadata"]["uid"] != first["metadata"]["uid"] && pods[0]["spec"]["containers"][0]["env"][0]["value"] == "2"
    });

    // A volume made by hand, bound to a claim of no class, mounted by a pod.
    let dir = cluster.dir().join("handmade");
    let manifest = format!(
        r#"
apiVersion: v1
kind: PersistentVolume
metadata: {{name: handmade}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {{path: {}, type: DirectoryOrCreate}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: handmade}}
spec:
  storageClassName: ""
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 10Mi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: writer}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{{name: v, persistentVolumeClaim: {{claimName: handmade}}}}]
  containers:
  - {{name: c, image: busybox:latest, imagePullPolicy: Never, command: [sh, -c, 'echo written > /v/proof; exec sleep 3600'], volumeMounts: [{{name: v, mountPath: /v}}]}}
"#,
        dir.display()
    );
    cluster.apply(&manifest);
    cluster.eventually("the pod wrote into the volume", 60, || std::fs::read_to_string(dir.join("proof")).is_ok_and(|s| s == "written\n"));
    assert_eq!(cluster.get("pv", "handmade")["status"]["phase"], "Bound");

    // Malformed workloads are refused with the field at fault.
    let message = refused(&cluster, "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: nameless}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: busybox}]}\n");
    assert!(message.contains("spec.serviceName: Required value"), "{message}");
    let message = refused(&cluster, "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: never}\nspec:\n  schedule: '0 25 * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}\n");
    assert!(message.contains("spec.schedule: Invalid value: \"0 25 * * *\": hour value 25 out of range (0-23)"), "{message}");
    let message = refused(&cluster, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: negative}\nspec:\n  parallelism: -1\n  template:\n    spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}\n");
    assert!(message.contains("spec.parallelism: Invalid value: -1: must be greater than or equal to 0"), "{message}");
}
