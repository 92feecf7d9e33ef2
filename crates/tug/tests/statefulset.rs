//! A StatefulSet on a real node (`tug up`, real containers from the busybox image) with
//! storage from the default `local-path` StorageClass: three pods created strictly in
//! order (the test watches every pod event through kubectl and checks that web-N appears
//! only after web-(N-1) was Ready), each with its own bound claim, and a file web-1 wrote
//! to its volume is still there after web-1 is deleted and recreated and after a scale
//! 3→1→3. Needs root.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tug_testkit::{can_run_pods, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

const WEB: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:latest
        imagePullPolicy: Never
        command: [sh, -c, '[ -f /data/id ] || echo "$(hostname) $RANDOM$RANDOM" > /data/id; echo start >> /data/boots; exec sleep 3600']
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 16Mi}}
"#;

/// `kubectl get pods --watch` as lines `TYPE NAME READY`, collected by a thread.
struct PodWatch {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl PodWatch {
    fn start(cluster: &Cluster, selector: &str) -> PodWatch {
        let template = r#"{.type} {.object.metadata.name} {.object.status.conditions[?(@.type=="Ready")].status}{"\n"}"#;
        let mut child = Command::new("kubectl")
            .env("KUBECONFIG", cluster.kubeconfig())
            .args(["get", "pods", "-l", selector, "--watch", "--output-watch-events", "-o"])
            .arg(format!("jsonpath={template}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl watch starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        PodWatch { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ready_pods(cluster: &Cluster) -> Vec<String> {
    let pods: Value = serde_json::from_str(&cluster.kubectl(&["get", "pods", "-l", "app=web", "-o", "json"])).unwrap();
    let mut names: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| p["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")))
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The directory on this node behind a claim's volume.
fn volume_dir(cluster: &Cluster, claim: &str) -> std::path::PathBuf {
    let pvc = cluster.get("pvc", claim);
    assert_eq!(pvc["status"]["phase"], "Bound", "{claim}: {pvc}");
    let pv = cluster.get("pv", pvc["spec"]["volumeName"].as_str().unwrap());
    pv["spec"]["hostPath"]["path"].as_str().expect("a local-path volume").into()
}

#[test]
fn statefulset_pods_start_in_order_and_keep_their_volumes() {
    if !can_run_pods() {
        return;
    }
    let cluster = Cluster::up(TUG);
    let class = cluster.get("storageclass", "local-path");
    assert_eq!(class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"], "true");
    assert_eq!(class["volumeBindingMode"], "WaitForFirstConsumer");

    let watch = PodWatch::start(&cluster, "app=web");
    cluster.apply(WEB);
    cluster.eventually("web-0, web-1 and web-2 are Ready", 120, || ready_pods(&cluster) == ["web-0", "web-1", "web-2"]);

    // Every pod appeared only after the one before it was Ready.
    let lines = watch.lines();
    for n in 1..3 {
        let added = lines.iter().position(|l| l.starts_with(&format!("ADDED web-{n} "))).unwrap_or_else(|| panic!("no ADDED web-{n} in {lines:#?}"));
        let before_ready = lines[..added].iter().any(|l| l == &format!("MODIFIED web-{} True", n - 1));
        assert!(before_ready, "web-{n} was created before web-{} was Ready: {lines:#?}", n - 1);
    }

    // Each pod has its own bound claim, and the stable identity the service gives it.
    let mut dirs = Vec::new();
    for n in 0..3 {
        let pod = cluster.pod(&format!("web-{n}"));
        assert_eq!(pod["spec"]["hostname"], format!("web-{n}"));
        assert_eq!(pod["spec"]["subdomain"], "web");
        let dir = volume_dir(&cluster, &format!("data-web-{n}"));
        let id = std::fs::read_to_string(dir.join("id")).expect("the pod wrote its id");
        assert!(id.starts_with(&format!("web-{n} ")), "{id}");
        dirs.push(dir);
    }
    dirs.dedup();
    assert_eq!(dirs.len(), 3, "three distinct volumes: {dirs:?}");
    let id = std::fs::read_to_string(dirs[1].join("id")).unwrap();
    let boots = || std::fs::read_to_string(dirs[1].join("boots")).unwrap_or_default().lines().count();

    // web-1 deleted: it comes back with the same claim and finds its file.
    let uid = cluster.pod("web-1")["metadata"]["uid"].clone();
    cluster.kubectl(&["delete", "pod", "web-1", "--wait=false"]);
    cluster.eventually("web-1 is recreated and Ready", 60, || {
        cluster.find("pod", "web-1").is_some_and(|p| p["metadata"]["uid"] != uid) && ready_pods(&cluster).len() == 3
    });
    assert_eq!(boots(), 2);
    assert_eq!(std::fs::read_to_string(dirs[1].join("id")).unwrap(), id);
    assert_eq!(volume_dir(&cluster, "data-web-1"), dirs[1]);

    // Scale 3 → 1: web-2 goes before web-1; the claims stay. Then back to 3.
    cluster.kubectl(&["scale", "statefulset", "web", "--replicas=1"]);
    cluster.eventually("only web-0 is left", 60, || {
        let out = cluster.kubectl(&["get", "pods", "-l", "app=web", "-o", "name"]);
        out.trim() == "pod/web-0"
    });
    let lines = watch.lines();
    let deleted = |name: &str| lines.iter().rposition(|l| l.starts_with(&format!("DELETED {name} "))).unwrap_or_else(|| panic!("{name} not deleted: {lines:#?}"));
    assert!(deleted("web-2") < deleted("web-1"), "web-2 must go first: {lines:#?}");
    for n in 0..3 {
        assert_eq!(cluster.get("pvc", &format!("data-web-{n}"))["status"]["phase"], "Bound");
    }
    cluster.kubectl(&["scale", "statefulset", "web", "--replicas=3"]);
    cluster.eventually("three Ready pods again", 120, || ready_pods(&cluster).len() == 3);
    assert_eq!(boots(), 3);
    assert_eq!(std::fs::read_to_string(dirs[1].join("id")).unwrap(), id);

    let set = cluster.get("statefulset", "web");
    assert_eq!(set["status"]["readyReplicas"], 3, "{}", set["status"]);
    assert_eq!(set["status"]["currentRevision"], set["status"]["updateRevision"]);
    let revision = set["status"]["updateRevision"].as_str().unwrap().to_string();
    assert!(cluster.kubectl(&["get", "controllerrevisions", "-o", "name"]).contains(&revision));
}
