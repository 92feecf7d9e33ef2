//! End-to-end tests of the kubectl-style client commands (`tug get|apply|delete|…`)
//! against a real `tug server` (HTTPS, its generated kubeconfig), compared with kubectl
//! (`/usr/bin/kubectl`) on the same server. Each test starts its own server on a free port
//! with a temporary data dir; both are removed on drop, even when the test fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const TUG: &str = env!("CARGO_BIN_EXE_tug");
const KUBECTL: &str = "/usr/bin/kubectl";

struct Server {
    child: Child,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(TUG)
            .args(["server", "--data-dir"])
            .arg(dir.path())
            .args(["--port", &port.to_string(), "--bind-address", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if server.kubeconfig().exists() && server.tug(&["get", "namespaces"]).status.success() {
                break;
            }
            assert!(Instant::now() < deadline, "tug server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    fn tug(&self, args: &[&str]) -> Output {
        self.tug_cmd(args).output().unwrap()
    }

    fn tug_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(TUG);
        c.args(args)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .env_remove("KUBECONFIG");
        c
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(KUBECTL)
            .args(args)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .output()
            .unwrap()
    }

    /// Runs `tug`, asserts success and returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.tug(args);
        assert!(
            out.status.success(),
            "tug {args:?} failed: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    fn kok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            stderr(&out)
        );
        stdout(&out)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.kok(&a)).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The guestbook example from the shared conformance data: $TUG_CONFORMANCE_DIR, else
/// `shared/conformance` beside the checkout, else the machine's /work/shared/conformance.
fn guestbook() -> PathBuf {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    let root = match std::env::var_os("TUG_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None if beside.is_dir() => beside,
        None => PathBuf::from("/work/shared/conformance"),
    };
    let dir = root.join("kubernetes-examples/manifests/web/guestbook");
    assert!(dir.is_dir(), "conformance data missing at {}", dir.display());
    dir
}

/// An object without what differs between two otherwise equal objects in two namespaces.
fn normalize(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "namespace",
            "managedFields",
            "generation",
        ] {
            m.remove(k);
        }
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            if let Some(Value::String(s)) =
                a.get_mut("kubectl.kubernetes.io/last-applied-configuration")
            {
                let mut la: Value = serde_json::from_str(s).unwrap();
                la["metadata"].as_object_mut().unwrap().remove("namespace");
                *s = la.to_string();
            }
        }
    }
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        for k in ["clusterIP", "clusterIPs"] {
            spec.remove(k);
        }
        // Node ports are allocated per Service; the two applies get different ones.
        for port in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(port) = port.as_object_mut() {
                port.remove("nodePort");
            }
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Cuts each line of a table at the start of the AGE column (ages differ between runs).
fn without_age(table: &str) -> String {
    let header = table.lines().next().unwrap_or("");
    let cut = header.find("AGE").unwrap_or(usize::MAX);
    table
        .lines()
        .map(|l| l.get(..cut).unwrap_or(l).trim_end().to_string() + "\n")
        .collect()
}

#[test]
fn apply_creates_configures_and_matches_kubectl() {
    let s = Server::start();
    for ns in ["tug", "kc"] {
        let out = s
            .tug_cmd(&["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(
                    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
                        .as_bytes(),
                )?;
                c.wait_with_output()
            });
        assert_eq!(stdout(&out.unwrap()), format!("namespace/{ns} created\n"));
    }
    let gb = guestbook();
    let gb = gb.to_str().unwrap();
    let out = s.ok(&["apply", "-n", "tug", "-f", gb]);
    assert_eq!(
        out,
        "deployment.apps/frontend created\nservice/frontend created\ndeployment.apps/redis-master created\nservice/redis-master created\n\
         deployment.apps/redis-replica created\nservice/redis-replica created\n"
    );
    assert_eq!(s.kok(&["apply", "-n", "kc", "-f", gb]), out);
    for kind in ["deployments", "services"] {
        let a = s.json(&["get", kind, "-n", "tug"]);
        let b = s.json(&["get", kind, "-n", "kc"]);
        let a: Vec<Value> = a["items"]
            .as_array()
            .unwrap()
            .iter()
            .cloned()
            .map(normalize)
            .collect();
        let b: Vec<Value> = b["items"]
            .as_array()
            .unwrap()
            .iter()
            .cloned()
            .map(normalize)
            .collect();
        assert_eq!(a.len(), 3);
        assert_eq!(a, b, "{kind} applied by tug and by kubectl differ");
    }
    // Again: nothing to do.
    assert!(s
        .ok(&["apply", "-n", "tug", "-f", gb])
        .lines()
        .all(|l| l.ends_with(" unchanged")));

    // A changed configuration: new image and replicas, an env var and a port dropped, a
    // container added, a label added. Both tools patch to equal objects; fields set by
    // others (a label added with `label`) survive.
    let dir = tempfile::tempdir().unwrap();
    let changed = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: frontend\nspec:\n  selector:\n    matchLabels:\n      app: guestbook\n      tier: frontend\n  replicas: 2\n  template:\n    metadata:\n      labels:\n        extra: yes-please\n        app: guestbook\n        tier: frontend\n    spec:\n      containers:\n      - name: php-redis\n        image: gcr.io/google-samples/gb-frontend:v6\n        resources:\n          requests:\n            cpu: 100m\n            memory: 100Mi\n        ports:\n        - containerPort: 8080\n      - name: sidecar\n        image: busybox\n";
    write(dir.path(), "frontend.yaml", changed);
    let f = dir.path().join("frontend.yaml");
    for ns in ["tug", "kc"] {
        s.ok(&[
            "label",
            "-n",
            ns,
            "deploy",
            "frontend",
            "owner=someone-else",
        ]);
    }
    assert_eq!(
        s.ok(&["apply", "-n", "tug", "-f", f.to_str().unwrap()]),
        "deployment.apps/frontend configured\n"
    );
    assert_eq!(
        s.kok(&["apply", "-n", "kc", "-f", f.to_str().unwrap()]),
        "deployment.apps/frontend configured\n"
    );
    let a = normalize(s.json(&["get", "deploy", "frontend", "-n", "tug"]));
    let b = normalize(s.json(&["get", "deploy", "frontend", "-n", "kc"]));
    assert_eq!(a, b);
    assert_eq!(a["metadata"]["labels"]["owner"], "someone-else");
    let containers = a["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 2);
    assert!(containers[0].get("env").is_none());
    assert_eq!(containers[0]["ports"][0]["containerPort"], 8080);
    assert_eq!(
        s.ok(&["apply", "-n", "tug", "-f", f.to_str().unwrap()]),
        "deployment.apps/frontend unchanged\n"
    );

    // create -f of an existing object fails as kubectl's does; delete -f removes everything.
    let out = s.tug(&["create", "-n", "tug", "-f", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("Error from server (AlreadyExists): error when creating \"{}\": deployments.apps \"frontend\" already exists\n", f.display())
    );
    let out = s.ok(&["delete", "-n", "tug", "-f", gb]);
    assert!(
        out.starts_with("deployment.apps \"frontend\" deleted\nservice \"frontend\" deleted\n"),
        "{out}"
    );
    let out = s.tug(&["get", "deploy,svc", "-n", "tug"]);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "No resources found in tug namespace.\n");
}

#[test]
fn apply_k_matches_kubectl_apply_k_and_delete_k_removes() {
    let s = Server::start();
    s.kok(&["create", "namespace", "tug"]);
    s.kok(&["create", "namespace", "kc"]);
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(
        root,
        "base/kustomization.yaml",
        "resources:\n- deployment.yaml\n- service.yaml\ncommonLabels:\n  app: demo\nconfigMapGenerator:\n- name: app-config\n  literals:\n  - GREETING=hello\n  - MODE=base\n",
    );
    write(
        root,
        "base/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      component: web\n  template:\n    metadata:\n      labels:\n        component: web\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n        envFrom:\n        - configMapRef:\n            name: app-config\n        volumeMounts:\n        - name: config\n          mountPath: /etc/app\n      volumes:\n      - name: config\n        configMap:\n          name: app-config\n",
    );
    write(
        root,
        "base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    component: web\n  ports:\n  - port: 80\n    targetPort: 8080\n",
    );
    write(
        root,
        "overlay/kustomization.yaml",
        "resources:\n- ../base\nnamePrefix: prod-\ncommonLabels:\n  env: prod\nconfigMapGenerator:\n- name: app-config\n  behavior: merge\n  literals:\n  - MODE=prod\npatchesStrategicMerge:\n- replicas.yaml\n",
    );
    write(
        root,
        "overlay/replicas.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        env:\n        - name: EXTRA\n          value: \"1\"\n",
    );
    let overlay = root.join("overlay");
    let overlay = overlay.to_str().unwrap();
    let out = s.ok(&["apply", "-n", "tug", "-k", overlay]);
    let kout = s.kok(&["apply", "-n", "kc", "-k", overlay]);
    assert_eq!(out, kout);
    let cm_name = out
        .lines()
        .find_map(|l| l.strip_prefix("configmap/"))
        .unwrap()
        .trim_end_matches(" created")
        .to_string();
    assert!(
        cm_name.starts_with("prod-app-config-") && cm_name.len() > "prod-app-config-".len(),
        "{out}"
    );
    for (kind, name) in [
        ("deployment", "prod-web"),
        ("service", "prod-web"),
        ("configmap", cm_name.as_str()),
    ] {
        let a = normalize(s.json(&["get", kind, name, "-n", "tug"]));
        let b = normalize(s.json(&["get", kind, name, "-n", "kc"]));
        assert_eq!(a, b, "{kind} {name}");
    }
    let d = s.json(&["get", "deployment", "prod-web", "-n", "tug"]);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["envFrom"][0]["configMapRef"]["name"],
        cm_name.as_str()
    );
    assert_eq!(pod["volumes"][0]["configMap"]["name"], cm_name.as_str());
    assert_eq!(pod["containers"][0]["image"], "nginx:1.27");
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["spec"]["template"]["metadata"]["labels"]["env"], "prod");
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "demo");
    let cm = s.json(&["get", "configmap", &cm_name, "-n", "tug"]);
    assert_eq!(cm["data"]["MODE"], "prod");
    assert!(s
        .ok(&["apply", "-n", "tug", "-k", overlay])
        .lines()
        .all(|l| l.ends_with(" unchanged")));

    let out = s.ok(&["delete", "-n", "tug", "-k", overlay]);
    assert!(
        out.contains("deployment.apps \"prod-web\" deleted")
            && out.contains(&format!("configmap \"{cm_name}\" deleted")),
        "{out}"
    );
    for (kind, name) in [
        ("deployment", "prod-web"),
        ("service", "prod-web"),
        ("configmap", cm_name.as_str()),
    ] {
        let out = s.tug(&["get", kind, name, "-n", "tug"]);
        assert_eq!(out.status.code(), Some(1), "{kind} {name} still there");
        assert!(
            stderr(&out).starts_with("Error from server (NotFound)"),
            "{}",
            stderr(&out)
        );
    }
    // kubectl's copy is untouched.
    s.kok(&["get", "deployment", "prod-web", "-n", "kc"]);
}

#[test]
fn get_prints_like_kubectl() {
    let s = Server::start();
    s.ok(&["apply", "-f", guestbook().to_str().unwrap()]);
    s.kok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ]);
    s.kok(&["create", "secret", "generic", "token", "--from-literal=t=x"]);
    s.kok(&["label", "configmap", "settings", "tier=backend"]);
    let same = |args: &[&str]| {
        let a = s.ok(args);
        let b = s.kok(args);
        assert_eq!(
            without_age(&a),
            without_age(&b),
            "tug and kubectl differ on {args:?}:\n{a}\n{b}"
        );
        assert!(!a.is_empty(), "{args:?} printed nothing");
    };
    for args in [
        &["get", "deployments"][..],
        &["get", "deploy", "frontend", "redis-master"],
        &["get", "svc"],
        &["get", "cm"],
        &["get", "secrets"],
        &["get", "namespaces"],
        &["get", "configmaps", "-A"],
        &["get", "deploy,svc"],
        &["get", "deploy/frontend", "svc/frontend"],
        &["get", "cm", "-l", "tier=backend"],
        &[
            "get",
            "svc",
            "-l",
            "tier in (backend,frontend)",
            "--show-labels",
        ],
        &["get", "deploy", "-o", "name"],
        &["get", "deploy,svc", "-o", "name"],
        &["get", "deploy", "-o", "jsonpath={.items[*].metadata.name}"],
        &[
            "get",
            "deploy",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{.spec.replicas}{\"\\n\"}{end}",
        ],
        &[
            "get",
            "deploy",
            "frontend",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
        &[
            "get",
            "svc",
            "-o",
            "jsonpath={.items[?(@.spec.type==\"NodePort\")].metadata.name}",
        ],
        &["get", "deploy", "frontend", "-o", "yaml"],
        &["get", "deploy", "frontend", "-o", "json"],
        &["get", "cm", "settings", "-o", "yaml"],
    ] {
        same(args);
    }
    // -o yaml / json of lists: the same objects.
    for fmt in ["json", "yaml"] {
        let a = s.ok(&["get", "deploy", "-o", fmt]);
        let b = s.kok(&["get", "deploy", "-o", fmt]);
        assert_eq!(a, b, "-o {fmt}");
    }
}

#[test]
fn errors_print_like_kubectl() {
    let s = Server::start();
    for args in [
        &["get", "nosuchtype"][..],
        &["get", "deploy", "missing"],
        &["get", "deployments.apps/missing"],
        &["delete", "configmap", "missing"],
        &["describe", "service", "missing"],
        &["get", "-o", "bogus", "pods"],
    ] {
        let a = s.tug(args);
        let b = s.kubectl(args);
        assert_eq!(a.status.code(), Some(1), "tug {args:?}");
        assert_eq!(b.status.code(), Some(1), "kubectl {args:?}");
        if args[1] != "-o" {
            assert_eq!(stderr(&a), stderr(&b), "{args:?}");
        } else {
            assert!(
                stderr(&a).starts_with("error: unable to match a printer"),
                "{}",
                stderr(&a)
            );
        }
    }
    let out = s.tug(&["get", "cm", "missing", "--ignore-not-found"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out) + &stderr(&out), "");
}

#[test]
fn watch_sees_a_change() {
    let s = Server::start();
    s.kok(&["create", "configmap", "watched", "--from-literal=a=1"]);
    let mut child = s
        .tug_cmd(&["get", "cm", "watched", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |rx: &mpsc::Receiver<String>| rx.recv_timeout(Duration::from_secs(20));
    let result = (|| {
        let header = next(&rx).map_err(|e| format!("no header: {e}"))?;
        let first = next(&rx).map_err(|e| format!("no first row: {e}"))?;
        if !header.starts_with("NAME") || !first.starts_with("watched ") || !first.contains(" 1 ") {
            return Err(format!("unexpected initial output: {header:?} {first:?}"));
        }
        s.ok(&[
            "patch",
            "cm",
            "watched",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"b":"2"}}"#,
        ]);
        let changed = next(&rx).map_err(|e| format!("no change seen: {e}"))?;
        if !changed.starts_with("watched ") || !changed.contains(" 2 ") {
            return Err(format!("unexpected watch row: {changed:?}"));
        }
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap();
}

#[test]
fn edit_patch_label_annotate_scale_describe_explain_api_resources() {
    let s = Server::start();
    let gb = guestbook().join("frontend-deployment.yaml");
    s.ok(&["apply", "-f", gb.to_str().unwrap()]);

    let out = s
        .tug_cmd(&["edit", "deploy", "frontend"])
        .env("KUBE_EDITOR", "sed -i -e 's/replicas: 3/replicas: 4/'")
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        "deployment.apps/frontend edited\n",
        "{}",
        stderr(&out)
    );
    let out = s
        .tug_cmd(&["edit", "deploy", "frontend"])
        .env("KUBE_EDITOR", "true")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "Edit cancelled, no changes made.\n");

    assert_eq!(
        s.ok(&[
            "patch",
            "deploy",
            "frontend",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"php-redis","image":"x:1"}]}}}}"#
        ]),
        "deployment.apps/frontend patched\n"
    );
    assert_eq!(
        s.ok(&[
            "patch",
            "deploy",
            "frontend",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"paused":true}}"#
        ]),
        "deployment.apps/frontend patched\n"
    );
    assert_eq!(
        s.ok(&[
            "patch",
            "deploy/frontend",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/spec/minReadySeconds","value":5}]"#
        ]),
        "deployment.apps/frontend patched\n"
    );
    // The same patch again changes nothing. The server's Deployment controller may still
    // be writing the status of the last change between this read and this patch (the
    // resourceVersion moves then, and kubectl says "patched" too): a few tries.
    let again = || {
        s.ok(&[
            "patch",
            "deploy/frontend",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/spec/minReadySeconds","value":5}]"#,
        ])
    };
    let mut said = again();
    for _ in 0..20 {
        if said != "deployment.apps/frontend patched\n" {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        said = again();
    }
    assert_eq!(said, "deployment.apps/frontend patched (no change)\n");
    assert_eq!(
        s.ok(&["label", "deploy", "frontend", "team=web"]),
        "deployment.apps/frontend labeled\n"
    );
    let out = s.tug(&["label", "deploy", "frontend", "team=db"]);
    assert_eq!(
        stderr(&out),
        "error: 'team' already has a value (web), and --overwrite is false\n"
    );
    s.ok(&["label", "deploy", "frontend", "team=db", "--overwrite"]);
    assert_eq!(
        s.ok(&["annotate", "deploy", "frontend", "note=hello", "other=x"]),
        "deployment.apps/frontend annotated\n"
    );
    s.ok(&["annotate", "deploy", "frontend", "other-"]);
    assert_eq!(
        s.ok(&["scale", "deploy", "frontend", "--replicas", "7"]),
        "deployment.apps/frontend scaled\n"
    );
    let d = s.json(&["get", "deploy", "frontend"]);
    assert_eq!(d["spec"]["replicas"], 7);
    assert_eq!(d["spec"]["paused"], true);
    assert_eq!(d["spec"]["minReadySeconds"], 5);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "x:1"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"][0]["name"], "GET_HOSTS_FROM",
        "strategic merge keeps the rest of the container"
    );
    assert_eq!(d["metadata"]["labels"]["team"], "db");
    assert_eq!(d["metadata"]["annotations"]["note"], "hello");
    assert!(d["metadata"]["annotations"].get("other").is_none());

    let text = s.ok(&["describe", "deployment", "frontend"]);
    for want in [
        "Name:               frontend",
        "Namespace:          default",
        "team=db",
        "note: hello",
        "Replicas:  7",
        "x:1",
        "Events:",
    ] {
        assert!(text.contains(want), "describe lacks {want:?}:\n{text}");
    }
    assert!(!text.contains("last-applied-configuration"), "{text}");

    for path in [
        "deployment.spec.strategy",
        "deployment",
        "pod.spec.containers",
        "svc.spec.ports",
    ] {
        assert_eq!(
            s.ok(&["explain", path]),
            s.kok(&["explain", path]),
            "explain {path}"
        );
    }
    assert_eq!(s.ok(&["api-resources"]), s.kok(&["api-resources"]));
    assert_eq!(
        s.ok(&["api-resources", "--namespaced=false"]),
        s.kok(&["api-resources", "--namespaced=false"])
    );
    let out = s.tug(&["explain", "deployment.spec.nosuchfield"]);
    assert_eq!(out.status.code(), Some(1));
}

/// `tug apply --server-side` against `kubectl apply --server-side`: the same output, the
/// same objects and owners, the same conflict error, and `--force-conflicts` taking over.
#[test]
fn server_side_apply_matches_kubectl() {
    let s = Server::start();
    s.kok(&["create", "namespace", "tug"]);
    s.kok(&["create", "namespace", "kc"]);
    let dir = tempfile::tempdir().unwrap();
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: nginx\n        image: nginx:1.27\n        ports:\n        - containerPort: 80\n";
    let scale = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 4\n";
    write(dir.path(), "deploy.yaml", deploy);
    write(dir.path(), "scale.yaml", scale);
    let deploy = dir.path().join("deploy.yaml");
    let scale = dir.path().join("scale.yaml");
    let (deploy, scale) = (deploy.to_str().unwrap(), scale.to_str().unwrap());
    let tug_ns = ["-n", "tug"];
    let kc_ns = ["-n", "kc"];

    let run_tug = |args: &[&str]| s.tug(&[args, &tug_ns[..]].concat());
    let run_kc = |args: &[&str]| s.kubectl(&[args, &kc_ns[..]].concat());
    let first = ["apply", "--server-side", "-f", deploy];
    let (a, b) = (run_tug(&first), run_kc(&first));
    assert_eq!(stdout(&a), "deployment.apps/web serverside-applied\n", "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));

    // A second manager changing the first one's field: the same error, the same exit code.
    let conflicting = ["apply", "--server-side", "--field-manager=scaler", "-f", scale];
    let (a, b) = (run_tug(&conflicting), run_kc(&conflicting));
    assert_eq!(a.status.code(), b.status.code());
    assert_eq!(b.status.code(), Some(1));
    assert_eq!(stderr(&a), stderr(&b));
    assert!(stderr(&a).contains(r#"conflict with "kubectl": .spec.replicas"#), "{}", stderr(&a));

    let forced = ["apply", "--server-side", "--field-manager=scaler", "--force-conflicts", "-f", scale];
    let (a, b) = (run_tug(&forced), run_kc(&forced));
    assert_eq!(stdout(&a), stdout(&b));

    let get = |ns: &str| s.json(&["get", "deploy", "web", "-n", ns, "--show-managed-fields"]);
    let (a, b) = (get("tug"), get("kc"));
    assert_eq!(a["spec"]["replicas"], 4);
    let owners = |v: &Value| -> Vec<(Value, Value, Value)> {
        v["metadata"]["managedFields"].as_array().unwrap().iter().map(|e| (e["manager"].clone(), e["operation"].clone(), e["fieldsV1"].clone())).collect()
    };
    assert_eq!(owners(&a), owners(&b));
    assert_eq!(normalize(a), normalize(b));

    // tug get -o yaml hides managedFields as kubectl does, unless asked.
    assert!(!s.ok(&["get", "deploy", "web", "-n", "tug", "-o", "yaml"]).contains("managedFields"));
    assert!(s.ok(&["get", "deploy", "web", "-n", "tug", "-o", "yaml", "--show-managed-fields"]).contains("managedFields:"));
}

/// A custom kind takes a JSON merge patch (the API server refuses a strategic one with
/// 415): a changed custom resource applied again is configured, by tug and by kubectl
/// (which picks the patch type from the media types our OpenAPI v3 lists for the kind).
#[test]
fn apply_configures_a_custom_resource_like_kubectl() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: gadgets.example.com}\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: gadgets, singular: gadget, kind: Gadget}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            properties:\n              size: {type: integer}\n              tags: {type: array, items: {type: string}}\n";
    write(dir.path(), "crd.yaml", crd);
    s.kok(&["apply", "-f", dir.path().join("crd.yaml").to_str().unwrap()]);
    s.kok(&["wait", "--for=condition=Established", "crd/gadgets.example.com", "--timeout=20s"]);
    for (ns, tug) in [("tug", true), ("kubectl", false)] {
        s.kok(&["create", "namespace", ns]);
        for (size, expected) in [(1, "created"), (2, "configured"), (2, "unchanged")] {
            let gadget = format!("apiVersion: example.com/v1\nkind: Gadget\nmetadata: {{name: g, namespace: {ns}}}\nspec: {{size: {size}, tags: [a]}}\n");
            write(dir.path(), "gadget.yaml", &gadget);
            let file = dir.path().join("gadget.yaml");
            let args = ["apply", "-f", file.to_str().unwrap()];
            let out = if tug { s.tug(&args) } else { s.kubectl(&args) };
            assert_eq!(stdout(&out), format!("gadget.example.com/g {expected}\n"), "{ns}: {}", stderr(&out));
        }
        assert_eq!(s.json(&["get", "gadget", "g", "-n", ns])["spec"]["size"], 2);
    }
}
