//! `tug chart install|upgrade|rollback|uninstall|list|history|status|get|test` against a
//! real `tug server` (no pods needed: the releases hold ConfigMaps, Deployments, PVCs and
//! hooks that are not Jobs), inspected with kubectl and with Helm's own storage code
//! (helm-python-sdk), which must read the releases we write.

use std::path::Path;

use serde_json::Value;
use tug_testkit::{text, ControlPlane};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, body) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

/// A chart with a ConfigMap, a Deployment, a kept PVC, a pre-install hook, a test hook
/// and NOTES.
fn app_chart(dir: &Path) -> String {
    write(
        dir,
        &[
            ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\nappVersion: \"1.0\"\n"),
            ("values.yaml", "greeting: hello\nimage: busybox:1.36\nhookFails: false\n"),
            (
                "templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  revision: {{ .Release.Revision | quote }}\n",
            ),
            (
                "templates/deploy.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: {{ .Release.Name }}}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}}\n    spec:\n      containers:\n      - name: web\n        image: {{ .Values.image }}\n",
            ),
            (
                "templates/pvc.yaml",
                "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {{ .Release.Name }}-data\n  annotations:\n    helm.sh/resource-policy: keep\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Mi\n",
            ),
            (
                "templates/hook.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-setup\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-weight: \"-1\"\ndata:\n  at: {{ .Release.Revision | quote }}\n",
            ),
            (
                "templates/tests/check.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations:\n    helm.sh/hook: test\n    helm.sh/hook-delete-policy: hook-succeeded\ndata:\n  ok: \"yes\"\n",
            ),
            ("templates/NOTES.txt", "Thanks for installing {{ .Release.Name }}.\n"),
        ],
    );
    dir.to_str().unwrap().to_string()
}

fn get(cp: &ControlPlane, kind: &str, name: &str, ns: &str) -> Value {
    serde_json::from_str(&cp.kubectl(&["get", kind, name, "-n", ns, "-o", "json"])).unwrap()
}

fn exists(cp: &ControlPlane, kind: &str, name: &str, ns: &str) -> bool {
    cp.kubectl_output(&["get", kind, name, "-n", ns])
        .status
        .success()
}

fn history(cp: &ControlPlane, name: &str) -> Vec<(i64, String, String)> {
    let v: Value =
        serde_json::from_str(&cp.tug(&["chart", "history", name, "-o", "json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_i64().unwrap(),
                r["status"].as_str().unwrap().to_string(),
                r["description"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn statuses(h: &[(i64, String, String)]) -> Vec<(i64, &str)> {
    h.iter().map(|(v, s, _)| (*v, s.as_str())).collect()
}

/// What Helm itself reads from our storage: revision and status of each revision, and the
/// user-supplied values of the latest.
fn helm_view(cp: &ControlPlane, name: &str) -> String {
    cp.python(&format!(
        r#"
import json, os, helm_python as helm
c = helm.Config(kubeconfig_path=os.environ["KUBECONFIG"], namespace="default")
print(json.dumps({{"history": [[h["revision"], h["status"], h["chart_name"], h["chart_version"]] for h in c.history("{name}")],
                  "values": c.get_values("{name}")}}, sort_keys=True))
"#
    ))
}

#[test]
fn two_releases_upgrade_history_rollback_read_by_helm() {
    let cp = ControlPlane::start(TUG);
    let tmp = tempfile::tempdir().unwrap();
    let chart = app_chart(tmp.path());

    let out = cp.tug(&["chart", "install", "one", &chart]);
    assert!(
        out.contains("STATUS: deployed") && out.contains("REVISION: 1"),
        "{out}"
    );
    assert!(out.contains("NOTES:\nThanks for installing one."), "{out}");
    cp.tug(&["chart", "install", "two", &chart, "--set", "greeting=hi"]);
    let again = cp.tug_output(&["chart", "install", "one", &chart]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("cannot re-use a name that is still in use"),
        "{}",
        text(&again)
    );

    // Side by side, owned as Helm marks ownership; the pre-install hook ran.
    assert_eq!(
        get(&cp, "cm", "one-config", "default")["data"]["greeting"],
        "hello"
    );
    assert_eq!(
        get(&cp, "cm", "two-config", "default")["data"]["greeting"],
        "hi"
    );
    let cm = get(&cp, "cm", "two-config", "default");
    assert_eq!(
        cm["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "two"
    );
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "Helm"
    );
    assert_eq!(get(&cp, "cm", "one-setup", "default")["data"]["at"], "1");

    let list = cp.tug(&["chart", "list"]);
    let rows: Vec<&str> = list.lines().collect();
    assert!(
        rows[0].starts_with("NAME") && rows[0].contains("APP VERSION"),
        "{list}"
    );
    assert!(
        rows[1].starts_with("one ")
            && rows[1].contains("deployed")
            && rows[1].contains("app-0.1.0"),
        "{list}"
    );
    assert!(rows[2].starts_with("two "), "{list}");

    // A manual edit of a field the chart does not set survives the upgrade (three-way).
    cp.kubectl(&["annotate", "deploy", "one-web", "edited-by=hand"]);
    let out = cp.tug(&[
        "chart",
        "upgrade",
        "one",
        &chart,
        "--set",
        "greeting=bye,image=busybox:1.37",
    ]);
    assert!(
        out.contains("Release \"one\" has been upgraded") && out.contains("REVISION: 2"),
        "{out}"
    );
    assert_eq!(
        get(&cp, "cm", "one-config", "default")["data"]["greeting"],
        "bye"
    );
    assert_eq!(
        get(&cp, "cm", "one-setup", "default")["data"]["at"],
        "2",
        "pre-upgrade hook re-created"
    );
    let d = get(&cp, "deploy", "one-web", "default");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.37"
    );
    assert_eq!(d["metadata"]["annotations"]["edited-by"], "hand");
    cp.tug(&["chart", "upgrade", "one", &chart, "--set", "greeting=third"]);
    assert_eq!(
        statuses(&history(&cp, "one")),
        vec![(1, "superseded"), (2, "superseded"), (3, "deployed")]
    );
    let values = cp.tug(&["chart", "get", "values", "one"]);
    assert_eq!(values, "USER-SUPPLIED VALUES:\ngreeting: third\n");
    let all = cp.tug(&["chart", "get", "values", "one", "--all", "-o", "json"]);
    let all: Value = serde_json::from_str(&all).unwrap();
    assert_eq!(
        all["image"], "busybox:1.36",
        "chart defaults under the user's values"
    );

    let out = cp.tug(&["chart", "rollback", "one", "1"]);
    assert!(out.contains("Rollback was a success"), "{out}");
    assert_eq!(
        get(&cp, "cm", "one-config", "default")["data"]["greeting"],
        "hello"
    );
    let d = get(&cp, "deploy", "one-web", "default");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.36"
    );
    let h = history(&cp, "one");
    assert_eq!(
        statuses(&h),
        vec![
            (1, "superseded"),
            (2, "superseded"),
            (3, "superseded"),
            (4, "deployed")
        ]
    );
    assert_eq!(h[3].2, "Rollback to 1");
    let status = cp.tug(&["chart", "status", "one", "--show-desc"]);
    assert!(
        status.contains("REVISION: 4") && status.contains("DESCRIPTION: Rollback to 1"),
        "{status}"
    );

    // Helm's own code reads what we stored.
    let helm: Value = serde_json::from_str(&helm_view(&cp, "one")).unwrap();
    assert_eq!(
        helm["history"],
        serde_json::json!([
            [1, "superseded", "app", "0.1.0"],
            [2, "superseded", "app", "0.1.0"],
            [3, "superseded", "app", "0.1.0"],
            [4, "deployed", "app", "0.1.0"]
        ])
    );
    let helm: Value = serde_json::from_str(&helm_view(&cp, "two")).unwrap();
    assert_eq!(helm["values"], serde_json::json!({"greeting": "hi"}));

    // The test hook runs, is recorded, and is deleted on success.
    let out = cp.tug(&["chart", "test", "two"]);
    assert!(
        out.contains("TEST SUITE:     two-test") && out.contains("Phase:          Succeeded"),
        "{out}"
    );
    assert!(!exists(&cp, "cm", "two-test", "default"));

    // `kubectl apply` of `tug chart template` creates what install created.
    cp.kubectl(&["create", "namespace", "applied"]);
    let rendered = cp.tug(&[
        "chart",
        "template",
        "two",
        &chart,
        "--set",
        "greeting=hi",
        "-n",
        "applied",
    ]);
    let file = tmp.path().join("rendered.yaml");
    std::fs::write(&file, rendered).unwrap();
    cp.kubectl(&["apply", "-n", "applied", "-f", file.to_str().unwrap()]);
    let manifest = cp.tug(&["chart", "get", "manifest", "two"]);
    for (kind, name, field) in [
        ("cm", "two-config", "data"),
        ("deploy", "two-web", "spec"),
        ("pvc", "two-data", "spec"),
    ] {
        assert!(manifest.contains(&format!("name: {name}")), "{manifest}");
        let installed = get(&cp, kind, name, "default");
        let applied = get(&cp, kind, name, "applied");
        assert_eq!(installed[field], applied[field], "{kind}/{name}");
    }
}

#[test]
fn uninstall_keeps_policy_objects_and_failures_leave_nothing_behind() {
    let cp = ControlPlane::start(TUG);
    let tmp = tempfile::tempdir().unwrap();
    let chart = app_chart(&tmp.path().join("app"));

    // Uninstall: everything goes but the PVC kept by policy, and the history.
    cp.tug(&["chart", "install", "gone", &chart]);
    let out = cp.tug(&["chart", "uninstall", "gone"]);
    assert!(out.contains("These resources were kept due to the resource policy:\n[PersistentVolumeClaim] gone-data"), "{out}");
    assert!(out.contains("release \"gone\" uninstalled"), "{out}");
    assert!(!exists(&cp, "cm", "gone-config", "default"));
    assert!(!exists(&cp, "deploy", "gone-web", "default"));
    assert!(exists(&cp, "pvc", "gone-data", "default"));
    let secrets = cp.kubectl(&["get", "secrets", "-l", "owner=helm,name=gone", "-o", "name"]);
    assert_eq!(secrets, "", "no release records left");
    assert!(!cp.tug_output(&["chart", "status", "gone"]).status.success());

    // --keep-history leaves an uninstalled record, and the name can be installed again.
    cp.tug(&["chart", "install", "kept", &chart]);
    cp.tug(&["chart", "uninstall", "kept", "--keep-history"]);
    assert_eq!(statuses(&history(&cp, "kept")), vec![(1, "uninstalled")]);
    assert!(!cp.tug(&["chart", "list"]).contains("kept"));
    assert!(cp.tug(&["chart", "list", "--all"]).contains("uninstalled"));
    cp.tug(&["chart", "install", "kept", &chart]);
    assert_eq!(
        statuses(&history(&cp, "kept")),
        vec![(1, "uninstalled"), (2, "deployed")]
    );

    // A failed install (the API refuses the second object) leaves a failed record and
    // removes what it created.
    let bad = tmp.path().join("bad");
    write(
        &bad,
        &[
            ("Chart.yaml", "apiVersion: v2\nname: bad\nversion: 1.0.0\n"),
            ("templates/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-a\n"),
            ("templates/b.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-b\nspec:\n  type: Nonsense\n  ports: [{port: 80}]\n"),
        ],
    );
    let out = cp.tug_output(&["chart", "install", "broken", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("INSTALLATION FAILED") && text(&out).contains("Service \"broken-b\""),
        "{}",
        text(&out)
    );
    assert_eq!(statuses(&history(&cp, "broken")), vec![(1, "failed")]);
    assert!(!exists(&cp, "cm", "broken-a", "default"), "no orphan left");
    // With --atomic, not even the record stays.
    let out = cp.tug_output(&[
        "chart",
        "install",
        "atomic",
        bad.to_str().unwrap(),
        "--atomic",
    ]);
    assert!(
        text(&out).contains("has been uninstalled due to atomic being set"),
        "{}",
        text(&out)
    );
    assert!(!exists(&cp, "cm", "atomic-a", "default"));
    assert_eq!(
        cp.kubectl(&["get", "secrets", "-l", "name=atomic", "-o", "name"]),
        ""
    );

    // A failed upgrade with --atomic rolls back by itself. (--atomic implies --wait, and
    // nothing becomes ready without a node, so this release holds a ConfigMap only.)
    let good = tmp.path().join("good");
    write(
        &good,
        &[
            ("Chart.yaml", "apiVersion: v2\nname: good\nversion: 1.0.0\n"),
            ("templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  v: {{ .Values.v | default \"one\" | quote }}\n"),
        ],
    );
    cp.tug(&["chart", "install", "up", good.to_str().unwrap()]);
    let out = cp.tug(&[
        "chart",
        "upgrade",
        "--install",
        "fresh",
        good.to_str().unwrap(),
    ]);
    assert!(
        out.contains("Release \"fresh\" does not exist. Installing it now.")
            && out.contains("REVISION: 1"),
        "{out}"
    );
    let out = cp.tug(&[
        "chart",
        "upgrade",
        "--install",
        "fresh",
        good.to_str().unwrap(),
    ]);
    assert!(
        out.contains("Release \"fresh\" has been upgraded") && out.contains("REVISION: 2"),
        "{out}"
    );
    let out = cp.tug_output(&[
        "chart",
        "upgrade",
        "up",
        bad.to_str().unwrap(),
        "--atomic",
        "--timeout",
        "20s",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("has been rolled back due to atomic being set"),
        "{}",
        text(&out)
    );
    let h = history(&cp, "up");
    assert_eq!(
        statuses(&h),
        vec![(1, "superseded"), (2, "failed"), (3, "deployed")]
    );
    assert_eq!(h[2].2, "Rollback to 1");
    assert_eq!(get(&cp, "cm", "up-config", "default")["data"]["v"], "one");
    assert!(
        !exists(&cp, "cm", "up-a", "default"),
        "the failed revision's objects are gone"
    );
}

#[test]
fn interrupted_upgrade_is_recovered_by_rollback() {
    let cp = ControlPlane::start(TUG);
    let tmp = tempfile::tempdir().unwrap();
    let chart = app_chart(&tmp.path().join("app"));
    cp.tug(&["chart", "install", "web", &chart]);
    // A pre-upgrade Job hook never completes here (no node runs its pod), so the upgrade
    // stays pending until it is killed.
    let slow = tmp.path().join("slow");
    write(
        &slow,
        &[
            ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.2.0\n"),
            ("templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: slow\n"),
            ("templates/job.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations:\n    helm.sh/hook: pre-upgrade\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: m\n        image: busybox\n"),
        ],
    );
    let mut child = std::process::Command::new(TUG)
        .env("KUBECONFIG", cp.kubeconfig())
        .args([
            "chart",
            "upgrade",
            "web",
            slow.to_str().unwrap(),
            "--timeout",
            "10m",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !exists(&cp, "job", "web-migrate", "default") {
        assert!(
            std::time::Instant::now() < deadline,
            "the hook Job never appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        statuses(&history(&cp, "web")),
        vec![(1, "deployed"), (2, "pending-upgrade")]
    );
    let out = cp.tug_output(&["chart", "upgrade", "web", &chart]);
    assert!(
        text(&out).contains("another operation (install/upgrade/rollback) is in progress"),
        "{}",
        text(&out)
    );
    cp.tug(&["chart", "rollback", "web"]);
    assert_eq!(
        statuses(&history(&cp, "web")),
        vec![(1, "superseded"), (2, "superseded"), (3, "deployed")]
    );
    assert_eq!(
        get(&cp, "cm", "web-config", "default")["data"]["greeting"],
        "hello"
    );
    cp.tug(&["chart", "upgrade", "web", &chart, "--set", "greeting=after"]);
    assert_eq!(
        get(&cp, "cm", "web-config", "default")["data"]["greeting"],
        "after"
    );
    cp.kubectl(&["delete", "job", "web-migrate"]);
}

/// A `tug chart repo serve` process, stopped by PID on drop.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn served_repository_is_added_searched_and_installed_from() {
    let cp = ControlPlane::start(TUG);
    let tmp = tempfile::tempdir().unwrap();
    let chart = app_chart(&tmp.path().join("app"));
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let env = |c: &mut std::process::Command| {
        c.env(
            "HELM_REPOSITORY_CONFIG",
            tmp.path().join("config/repositories.yaml"),
        )
        .env("HELM_REPOSITORY_CACHE", tmp.path().join("cache"))
        .env("KUBECONFIG", cp.kubeconfig());
    };
    let tug = |args: &[&str]| {
        let mut c = std::process::Command::new(TUG);
        env(&mut c);
        let out = c.args(args).output().unwrap();
        assert!(out.status.success(), "tug {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    tug(&["chart", "package", &chart, "-d", repo.to_str().unwrap()]);
    let chart_yaml = Path::new(&chart).join("Chart.yaml");
    let newer = std::fs::read_to_string(&chart_yaml)
        .unwrap()
        .replace("0.1.0", "0.2.0");
    std::fs::write(&chart_yaml, newer).unwrap();
    tug(&["chart", "package", &chart, "-d", repo.to_str().unwrap()]);

    let port = tug_testkit::free_port();
    let mut serve = std::process::Command::new(TUG);
    env(&mut serve);
    let _served = Served(
        serve
            .args([
                "chart",
                "repo",
                "serve",
                repo.to_str().unwrap(),
                "--address",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tug_testkit::try_get("127.0.0.1", port, "/index.yaml").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "repo serve never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let out = tug(&["chart", "repo", "add", "local", &url]);
    assert_eq!(out, "\"local\" has been added to your repositories\n");
    assert!(tug(&["chart", "repo", "list"]).contains(&format!("local   {url}")));
    let found = tug(&["chart", "search", "repo", "app"]);
    let rows: Vec<&str> = found.lines().collect();
    assert_eq!(rows.len(), 2, "newest version only: {found}");
    assert!(
        rows[1].starts_with("local/app") && rows[1].contains("0.2.0"),
        "{found}"
    );
    assert_eq!(
        tug(&["chart", "search", "repo", "app", "--versions"])
            .lines()
            .count(),
        3
    );
    assert_eq!(
        tug(&["chart", "search", "repo", "nosuchchart"]),
        "No results found\n"
    );

    // Install from the repository, a pinned older version.
    let out = tug(&[
        "chart",
        "install",
        "fromrepo",
        "local/app",
        "--version",
        "0.1.0",
    ]);
    assert!(out.contains("STATUS: deployed"), "{out}");
    let list = tug(&["chart", "list"]);
    assert!(
        list.contains("fromrepo") && list.contains("app-0.1.0"),
        "{list}"
    );
    assert_eq!(
        get(&cp, "cm", "fromrepo-config", "default")["data"]["greeting"],
        "hello"
    );

    // Dependencies from the repository, by name and by URL, locked and rebuilt.
    let parent = tmp.path().join("parent");
    write(
        &parent,
        &[(
            "Chart.yaml",
            &format!("apiVersion: v2\nname: parent\nversion: 1.0.0\ndependencies:\n- name: app\n  version: \"~0.1\"\n  repository: \"@local\"\n"),
        )],
    );
    tug(&["chart", "dependency", "update", parent.to_str().unwrap()]);
    assert!(parent.join("charts/app-0.1.0.tgz").exists());
    let lock = std::fs::read_to_string(parent.join("Chart.lock")).unwrap();
    assert!(
        lock.contains("version: 0.1.0") && lock.contains("digest: sha256:"),
        "{lock}"
    );
    std::fs::remove_file(parent.join("charts/app-0.1.0.tgz")).unwrap();
    tug(&["chart", "dependency", "build", parent.to_str().unwrap()]);
    assert!(parent.join("charts/app-0.1.0.tgz").exists());
    let rendered = tug(&["chart", "template", "p", parent.to_str().unwrap()]);
    assert!(rendered.contains("name: p-config"), "{rendered}");

    // Helm itself reads the served index and archives.
    let dest = tmp.path().join("helm-pulled");
    std::fs::create_dir_all(&dest).unwrap();
    cp.python(&format!(
        "import helm_python as helm\nhelm.pull('app', repo_url='{url}', version='0.2.0', destination='{}')\n",
        dest.display()
    ));
    assert!(dest.join("app-0.2.0.tgz").exists());

    let out = tug(&["chart", "repo", "remove", "local"]);
    assert_eq!(out, "\"local\" has been removed from your repositories\n");
}

#[test]
fn lookup_reads_the_cluster_on_install_and_nothing_when_templating() {
    let cp = ControlPlane::start(TUG);
    let tmp = tempfile::tempdir().unwrap();
    cp.kubectl(&["create", "configmap", "existing", "--from-literal=x=found"]);
    let chart = tmp.path().join("look");
    write(
        &chart,
        &[
            ("Chart.yaml", "apiVersion: v2\nname: look\nversion: 0.1.0\n"),
            (
                "templates/cm.yaml",
                concat!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-seen\ndata:\n",
                    "  found: {{ dig \"data\" \"x\" \"\" (lookup \"v1\" \"ConfigMap\" .Release.Namespace \"existing\") | quote }}\n",
                    "  missing: {{ lookup \"v1\" \"ConfigMap\" .Release.Namespace \"nope\" | len | quote }}\n",
                    "  listed: \"{{ range (lookup \"v1\" \"ConfigMap\" .Release.Namespace \"\").items }}",
                    "{{ if eq .metadata.name \"existing\" }}existing{{ end }}{{ end }}\"\n",
                    "  node: {{ dig \"metadata\" \"name\" \"\" (lookup \"v1\" \"Namespace\" \"\" .Release.Namespace) | quote }}\n",
                ),
            ),
        ],
    );
    let chart = chart.to_str().unwrap();
    cp.tug(&["chart", "install", "look", chart]);
    let seen = get(&cp, "configmap", "look-seen", "default");
    assert_eq!(seen["data"]["found"], "found", "{seen}");
    assert_eq!(seen["data"]["missing"], "0", "an object that does not exist is an empty map");
    assert_eq!(seen["data"]["listed"], "existing", "an empty name lists");
    assert_eq!(seen["data"]["node"], "default", "a cluster-scoped kind is read without a namespace");
    // Offline, as `helm template`, every lookup is an empty map.
    let offline = cp.tug(&["chart", "template", "look", chart]);
    assert!(offline.contains("found: \"\"") && offline.contains("listed: \"\""), "{offline}");
    // A kind the cluster does not serve stops the install, naming the lookup.
    let bad = tmp.path().join("bad");
    write(
        &bad,
        &[
            ("Chart.yaml", "apiVersion: v2\nname: bad\nversion: 0.1.0\n"),
            ("templates/cm.yaml", "{{ lookup \"example.com/v1\" \"Nothing\" \"\" \"x\" }}\n"),
        ],
    );
    let out = cp.tug_output(&["chart", "install", "bad", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("lookup example.com/v1 Nothing"), "{}", text(&out));
}
