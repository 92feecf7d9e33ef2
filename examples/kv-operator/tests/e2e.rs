//! The kv operator end to end: the real `tug-kv-operator` binary, run as a process with
//! the cluster's admin kubeconfig as a user runs it out of cluster, against a real
//! `tug up` (real pods from the kv image built by `tug build`, real local-path volumes),
//! driven with kubectl and plain HTTP to the members.
//!
//! `tug` is the binary cargo built beside the operator (`cargo nextest run --workspace`
//! builds both; alone: `cargo build --release -p tug`), or `$TUG`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tug_testkit::{can_run_pods, http_request, text, Cluster, ControlPlane};

const OPERATOR: &str = env!("CARGO_BIN_EXE_tug-kv-operator");
const EXAMPLE: &str = env!("CARGO_MANIFEST_DIR");

fn tug() -> String {
    let path = std::env::var_os("TUG").map(PathBuf::from).unwrap_or_else(|| Path::new(OPERATOR).with_file_name("tug"));
    assert!(path.exists(), "{} is missing: cargo build --release -p tug (or set TUG)", path.display());
    path.to_string_lossy().into_owned()
}

/// The operator process, ended (by PID) when dropped.
struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    fn start(kubeconfig: &Path, dir: &Path) -> Operator {
        let log = dir.join("operator.log");
        let child = Command::new(OPERATOR)
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("operator log"))
            .spawn()
            .expect("the operator starts");
        Operator { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_alive(&mut self) {
        assert!(self.child.try_wait().expect("wait").is_none(), "the operator ended:\n{}", self.log());
    }

    /// Polls `done` every 300 ms for up to `seconds`; panics naming `what`, with the
    /// operator's log.
    fn eventually(&self, what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}; the operator said:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kubectl apply` of the committed CRDs, once they serve.
fn install_crds(kubectl: impl Fn(&[&str]) -> Output) {
    let crds = format!("{EXAMPLE}/crd.yaml");
    let out = kubectl(&["apply", "-f", &crds]);
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl(&["wait", "--for", "condition=established", "--timeout=30s", "-f", &crds]);
    assert!(out.status.success(), "{}", text(&out));
}

/// Builds the kv image as `kv:1` into the cluster's image store.
fn build_image(cluster: &Cluster) {
    let ctx = cluster.dir().join("kv-image");
    let out = Command::new("cp").args(["-r", &format!("{EXAMPLE}/image")]).arg(&ctx).output().expect("cp");
    assert!(out.status.success(), "{}", text(&out));
    std::fs::copy("/bin/busybox", ctx.join("busybox")).expect("copy busybox");
    let out = Command::new(tug()).args(["build", "-q", "-t", "kv:1", "--data-dir"]).arg(cluster.dir()).arg(&ctx).output().expect("tug build");
    assert!(out.status.success(), "tug build: {}", text(&out));
}

fn json(out: Output) -> Value {
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// A member's answer to METHOD /cgi-bin/kv/KEY.
fn kv(cluster: &Cluster, member: &str, method: &str, key: &str, body: &str) -> (u16, String) {
    let ip = cluster.pod(member)["status"]["podIP"].as_str().unwrap_or_default().to_string();
    http_request(&ip, 8080, method, &format!("/cgi-bin/kv/{key}"), body.as_bytes()).unwrap_or((0, String::new()))
}

fn info(cluster: &Cluster, member: &str) -> String {
    let ip = cluster.pod(member)["status"]["podIP"].as_str().unwrap_or_default().to_string();
    http_request(&ip, 8080, "GET", "/cgi-bin/info", b"").map(|(_, body)| body).unwrap_or_default()
}

/// Whether the store reports `replicas` members, all Ready and up to date with its spec.
fn running(cluster: &Cluster, replicas: i64) -> impl FnMut() -> bool + '_ {
    move || {
        let kvs = json(cluster.kubectl_output(&["get", "kvs", "kv", "-o", "json"]));
        let s = &kvs["status"];
        s["phase"] == "Running" && s["readyReplicas"] == replicas && s["replicas"] == replicas && s["observedGeneration"] == kvs["metadata"]["generation"]
    }
}

fn phase(cluster: &Cluster, kind: &str, name: &str) -> String {
    cluster.get(kind, name)["status"]["phase"].as_str().unwrap_or_default().to_string()
}

const STORE: &str = "
apiVersion: example.tugboat.dev/v1
kind: KeyValueStore
metadata: {name: kv}
spec:
  replicas: 1
  image: kv:1
  config: {greeting: hello}
";

#[test]
fn a_store_scales_rolls_its_configuration_and_restores_a_backup() {
    if !can_run_pods() {
        return;
    }
    let cluster = Cluster::up(&tug());
    build_image(&cluster);
    install_crds(|args| cluster.kubectl_output(args));
    let mut operator = Operator::start(&cluster.kubeconfig(), cluster.dir());

    cluster.apply(STORE);
    operator.eventually("kv has 1 ready member", 60, running(&cluster, 1));
    let table = cluster.kubectl(&["get", "kvs"]);
    assert!(table.contains("REPLICAS") && table.contains("PHASE") && table.contains("Running"), "{table}");
    assert_eq!(kv(&cluster, "kv-0", "POST", "a", "one"), (200, "stored a".into()));
    assert_eq!(kv(&cluster, "kv-0", "POST", "b", "two"), (200, "stored b".into()));
    assert_eq!(kv(&cluster, "kv-0", "POST", "big", &"x".repeat(2000)).0, 413, "maxValueBytes defaults to 1024");
    assert_eq!(kv(&cluster, "kv-0", "GET", "a", ""), (200, "one".into()));
    let first_uid = cluster.pod("kv-0")["metadata"]["uid"].clone();

    // Scale up through the scale subresource: the new members copy member 0's keys and
    // refuse writes.
    cluster.kubectl(&["scale", "kvs/kv", "--replicas=3"]);
    operator.eventually("kv has 3 ready members", 90, running(&cluster, 3));
    operator.eventually("kv-2 has member 0's keys", 30, || kv(&cluster, "kv-2", "GET", "b", "") == (200, "two".into()));
    assert_eq!(kv(&cluster, "kv-1", "POST", "c", "x").0, 403);
    assert!(info(&cluster, "kv-2").contains("role=replica greeting=hello"), "{}", info(&cluster, "kv-2"));

    // A configuration change rolls every member, one at a time, keeping the data.
    let hash = |pod: &str| cluster.pod(pod)["metadata"]["annotations"]["example.tugboat.dev/config-hash"].clone();
    let old_hash = hash("kv-0");
    cluster.kubectl(&["patch", "kvs", "kv", "--type", "merge", "-p", r#"{"spec": {"config": {"greeting": "bonjour"}}}"#]);
    let mut phases = Vec::new();
    operator.eventually("every member runs the new configuration", 120, || {
        phases.push(phase(&cluster, "kvs", "kv"));
        running(&cluster, 3)() && ["kv-0", "kv-1", "kv-2"].iter().all(|m| hash(m) != old_hash && info(&cluster, m).contains("greeting=bonjour"))
    });
    assert!(phases.iter().any(|p| p == "Updating"), "the store reported the roll: {phases:?}");
    assert_ne!(cluster.pod("kv-0")["metadata"]["uid"], first_uid, "kv-0 was replaced");
    assert_eq!(kv(&cluster, "kv-0", "GET", "a", ""), (200, "one".into()), "member 0 kept its data across the roll");

    // Scale down: the replicas go, member 0 keeps its data.
    cluster.kubectl(&["scale", "kvs/kv", "--replicas=1"]);
    operator.eventually("kv has 1 member again", 60, || {
        running(&cluster, 1)() && json(cluster.kubectl_output(&["get", "pods", "-l", "app.kubernetes.io/instance=kv,app.kubernetes.io/component=member", "-o", "json"]))["items"].as_array().is_some_and(|p| p.len() == 1)
    });
    assert_eq!(kv(&cluster, "kv-0", "GET", "a", ""), (200, "one".into()));
    assert_eq!(kv(&cluster, "kv-0", "GET", "b", ""), (200, "two".into()));

    // Back up, lose the data, restore it.
    cluster.apply("apiVersion: example.tugboat.dev/v1\nkind: KeyValueBackup\nmetadata: {name: nightly}\nspec: {store: kv}\n");
    operator.eventually("the backup completes", 60, || phase(&cluster, "kvb", "nightly") == "Completed");
    assert_eq!(cluster.get("kvb", "nightly")["status"]["members"], 1);
    assert_eq!(kv(&cluster, "kv-0", "DELETE", "a", ""), (200, "deleted a".into()));
    assert_eq!(kv(&cluster, "kv-0", "DELETE", "b", ""), (200, "deleted b".into()));
    assert_eq!(kv(&cluster, "kv-0", "GET", "a", "").0, 404);
    cluster.apply("apiVersion: example.tugboat.dev/v1\nkind: KeyValueRestore\nmetadata: {name: undo}\nspec: {store: kv, backup: nightly}\n");
    operator.eventually("the restore completes", 60, || phase(&cluster, "kvr", "undo") == "Completed");
    assert_eq!(kv(&cluster, "kv-0", "GET", "a", ""), (200, "one".into()));
    assert_eq!(kv(&cluster, "kv-0", "GET", "b", ""), (200, "two".into()));

    // Deleting the store deletes its members' volumes (the finalizer); backups stay.
    cluster.kubectl(&["delete", "kvs", "kv", "--timeout=60s"]);
    let claims = cluster.kubectl(&["get", "pvc", "-o", "name"]);
    assert_eq!(claims.trim(), "persistentvolumeclaim/kv-backups", "{claims}");
    operator.assert_alive();
}

#[test]
fn bad_input_is_refused_or_reported_and_the_operator_carries_on() {
    let tug = tug();
    let server = ControlPlane::start(&tug);
    install_crds(|args| server.kubectl_output(args));
    let mut operator = Operator::start(&server.kubeconfig(), server.dir());
    let apply = |yaml: &str| {
        let file = server.dir().join("object.yaml");
        std::fs::write(&file, yaml).expect("write");
        server.kubectl_output(&["apply", "-f", file.to_str().expect("utf-8")])
    };

    // The schema refuses what the operator could not run, naming the field.
    let out = apply("apiVersion: example.tugboat.dev/v1\nkind: KeyValueStore\nmetadata: {name: bad}\nspec: {replicas: -1, image: kv:1}\n");
    assert!(!out.status.success());
    let said = text(&out);
    assert!(said.contains("is invalid") && said.contains("spec.replicas") && said.contains("greater than or equal to 0"), "{said}");
    let out = apply("apiVersion: example.tugboat.dev/v1\nkind: KeyValueStore\nmetadata: {name: bad}\nspec: {replicas: 1}\n");
    assert!(!out.status.success() && text(&out).contains("spec.image"), "{}", text(&out));
    // The API answers 422 with the field in the Status's causes.
    let status = server.python(
        "import kubernetes, json\n\
         kubernetes.config.load_kube_config()\n\
         api = kubernetes.client.CustomObjectsApi()\n\
         try:\n    api.create_namespaced_custom_object('example.tugboat.dev', 'v1', 'default', 'keyvaluestores', {'apiVersion': 'example.tugboat.dev/v1', 'kind': 'KeyValueStore', 'metadata': {'name': 'bad'}, 'spec': {'replicas': -1, 'image': 'kv:1'}})\n\
         except kubernetes.client.ApiException as e:\n    print(json.dumps({'code': e.status, 'body': json.loads(e.body)}))\n",
    );
    let status: Value = serde_json::from_str(status.trim()).expect("a Status");
    assert_eq!(status["code"], 422, "{status}");
    assert!(status["body"]["details"]["causes"].as_array().is_some_and(|c| c.iter().any(|c| c["field"] == "spec.replicas")), "{status}");

    // A restore naming a missing backup, a backup of a missing store: conditions say so.
    let out = apply("apiVersion: example.tugboat.dev/v1\nkind: KeyValueRestore\nmetadata: {name: r}\nspec: {store: kv, backup: nope}\n");
    assert!(out.status.success(), "{}", text(&out));
    let out = apply("apiVersion: example.tugboat.dev/v1\nkind: KeyValueBackup\nmetadata: {name: b}\nspec: {store: nostore}\n");
    assert!(out.status.success(), "{}", text(&out));
    let condition = |kind: &str, name: &str| json(server.kubectl_output(&["get", kind, name, "-o", "json"]))["status"]["conditions"][0].clone();
    operator.eventually("the restore reports the missing backup", 20, || condition("kvr", "r")["reason"] == "BackupNotFound");
    let c = condition("kvr", "r");
    assert_eq!(c["status"], "False");
    assert_eq!(c["message"], "KeyValueBackup default/nope does not exist: fix spec.backup of KeyValueRestore r (`kubectl get kvb -n default` lists the backups)");
    operator.eventually("the backup reports the missing store", 20, || condition("kvb", "b")["reason"] == "StoreNotFound");

    // Still reconciling: a store of no members is Running.
    let out = apply("apiVersion: example.tugboat.dev/v1\nkind: KeyValueStore\nmetadata: {name: idle}\nspec: {replicas: 0, image: kv:1}\n");
    assert!(out.status.success(), "{}", text(&out));
    operator.eventually("the idle store runs", 30, || {
        json(server.kubectl_output(&["get", "kvs", "idle", "-o", "json"]))["status"]["phase"] == "Running"
    });
    // And settles: with nothing changing, it rewrites nothing (no reconcile loop feeding
    // itself through its own writes).
    let versions = || server.kubectl(&["get", "configmaps,services,statefulsets,kvs", "-o", "jsonpath={.items[*].metadata.resourceVersion}"]);
    let before = versions();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(versions(), before);
    operator.assert_alive();
}
