//! `tug kustomize create` and `tug kustomize edit …`: each command runs in a
//! temp directory through the real binary; the test checks the written
//! kustomization.yaml text and that `tug kustomize build` of the edited tree
//! gives the same objects as `kubectl kustomize` (`/usr/bin/kubectl`).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const KUBECTL: &str = "/usr/bin/kubectl";
const HEADER: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n";

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: settings
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
";

fn tug(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tug"))
        .arg("kustomize")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run tug")
}

fn ok(dir: &Path, args: &[&str]) {
    let out = tug(dir, args);
    assert!(
        out.status.success(),
        "tug kustomize {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let out = tug(dir, args);
    assert!(!out.status.success(), "tug kustomize {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn kfile(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("kustomization.yaml")).expect("kustomization.yaml written")
}

fn parse(text: &str) -> Vec<Value> {
    let mut opts = serde_saphyr::Options::default();
    opts.legacy_octal_numbers = true;
    opts.strict_booleans = true;
    let docs: Vec<Value> = serde_saphyr::from_str_multiple_with_options(text, opts).expect("yaml");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// Builds with tug and kubectl, asserts the same objects, returns them.
fn build_same(dir: &Path) -> Vec<Value> {
    let ours = tug(dir, &["build", "."]);
    assert!(
        ours.status.success(),
        "tug build: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let ours = parse(&String::from_utf8_lossy(&ours.stdout));
    if Path::new(KUBECTL).exists() {
        let theirs = Command::new(KUBECTL)
            .arg("kustomize")
            .arg(dir)
            .output()
            .expect("run kubectl");
        assert!(
            theirs.status.success(),
            "kubectl kustomize: {}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        let theirs = parse(&String::from_utf8_lossy(&theirs.stdout));
        assert_eq!(
            ours,
            theirs,
            "tug and kubectl kustomize disagree\n{}",
            kfile(dir)
        );
    } else {
        eprintln!("{KUBECTL} not installed: checking tug's output only");
    }
    ours
}

fn find<'a>(objs: &'a [Value], kind: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {objs:?}"))
}

/// A directory with deployment.yaml, service.yaml and a settings ConfigMap
/// generator-free base created by `tug kustomize create`.
fn tree() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("deployment.yaml"), DEPLOYMENT).unwrap();
    std::fs::write(tmp.path().join("service.yaml"), SERVICE).unwrap();
    tmp
}

#[test]
fn create_writes_kustomize_layout_and_refuses_to_overwrite() {
    let tmp = tree();
    let d = tmp.path();
    ok(
        d,
        &[
            "create",
            "--resources",
            "deployment.yaml,service.yaml",
            "--namespace",
            "prod",
            "--nameprefix",
            "p-",
            "--namesuffix",
            "-s",
            "--labels",
            "app:shop,tier:front",
            "--annotations",
            "owner:me",
        ],
    );
    assert_eq!(
        kfile(d),
        format!(
            "{HEADER}resources:\n- deployment.yaml\n- service.yaml\nnamePrefix: p-\nnameSuffix: -s\nnamespace: prod\n\
             commonLabels:\n  app: shop\n  tier: front\ncommonAnnotations:\n  owner: me\n"
        )
    );
    let objs = build_same(d);
    assert_eq!(find(&objs, "Deployment")["metadata"]["name"], "p-web-s");
    assert_eq!(find(&objs, "Service")["metadata"]["namespace"], "prod");
    let err = fails(d, &["create"]);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn create_autodetect_finds_resources_and_with_recursive_kustomization_dirs() {
    let tmp = tree();
    let d = tmp.path();
    std::fs::write(d.join("notes.yaml"), "just: data\n").unwrap();
    std::fs::create_dir_all(d.join("sub/base")).unwrap();
    std::fs::write(
        d.join("sub/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
    )
    .unwrap();
    std::fs::write(
        d.join("sub/base/svc.yaml"),
        SERVICE.replace("name: web", "name: other"),
    )
    .unwrap();
    ok(&d.join("sub/base"), &["create", "--autodetect"]);
    assert_eq!(
        kfile(&d.join("sub/base")),
        format!("{HEADER}resources:\n- svc.yaml\n")
    );
    ok(d, &["create", "--autodetect", "--recursive"]);
    assert_eq!(
        kfile(d),
        format!(
            "{HEADER}resources:\n- deployment.yaml\n- service.yaml\n- sub/base\n- sub/cm.yaml\n"
        )
    );
    assert_eq!(build_same(d).len(), 4);
}

#[test]
fn add_and_remove_resource() {
    let tmp = tree();
    let d = tmp.path();
    ok(d, &["create"]);
    assert_eq!(kfile(d), HEADER);
    ok(d, &["edit", "add", "resource", "*.yaml"]);
    assert_eq!(
        kfile(d),
        format!("{HEADER}resources:\n- deployment.yaml\n- service.yaml\n")
    );
    // Duplicates are skipped, not an error.
    ok(d, &["edit", "add", "resource", "service.yaml"]);
    assert_eq!(
        kfile(d),
        format!("{HEADER}resources:\n- deployment.yaml\n- service.yaml\n")
    );
    let err = fails(d, &["edit", "add", "resource", "missing.yaml"]);
    assert!(err.contains("missing.yaml"), "{err}");
    assert_eq!(build_same(d).len(), 2);
    ok(d, &["edit", "remove", "resource", "serv*"]);
    assert_eq!(kfile(d), format!("{HEADER}resources:\n- deployment.yaml\n"));
    assert_eq!(build_same(d).len(), 1);
}

#[test]
fn add_configmap_and_secret_generate_hashed_objects_referenced_by_the_deployment() {
    let tmp = tree();
    let d = tmp.path();
    std::fs::write(d.join("app.properties"), "color=blue\n").unwrap();
    ok(d, &["create", "--resources", "deployment.yaml"]);
    ok(
        d,
        &[
            "edit",
            "add",
            "configmap",
            "settings",
            "--from-literal",
            "mode=fast",
            "--from-file",
            "app.properties",
        ],
    );
    ok(
        d,
        &[
            "edit",
            "add",
            "secret",
            "creds",
            "--from-literal",
            "password=hunter2",
        ],
    );
    assert_eq!(
        kfile(d),
        format!(
            "{HEADER}resources:\n- deployment.yaml\nconfigMapGenerator:\n- files:\n  - app.properties\n  literals:\n  - mode=fast\n  name: settings\n\
             secretGenerator:\n- literals:\n  - password=hunter2\n  name: creds\n  type: Opaque\n"
        )
    );
    let objs = build_same(d);
    let cm = find(&objs, "ConfigMap")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cm.starts_with("settings-") && cm.len() > "settings-".len(),
        "{cm}"
    );
    assert!(find(&objs, "Secret")["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("creds-"));
    assert_eq!(
        find(&objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]
            ["configMapRef"]["name"],
        cm.as_str()
    );
    let err = fails(
        d,
        &["edit", "add", "configmap", "x", "--from-literal", "novalue"],
    );
    assert!(err.contains("key=value"), "{err}");
    let err = fails(
        d,
        &["edit", "add", "configmap", "x", "--from-file", "nope.txt"],
    );
    assert!(err.contains("nope.txt"), "{err}");
}

/// Each edit re-reads the file: fields it already has keep their place, new
/// ones are appended (in canonical order among themselves), as kustomize does.
#[test]
fn add_patch_label_annotation() {
    let tmp = tree();
    let d = tmp.path();
    std::fs::write(
        d.join("replicas.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 5\n",
    )
    .unwrap();
    std::fs::write(
        d.join("port.yaml"),
        "- op: replace\n  path: /spec/ports/0/port\n  value: 8080\n",
    )
    .unwrap();
    ok(
        d,
        &["create", "--resources", "deployment.yaml,service.yaml"],
    );
    ok(d, &["edit", "add", "patch", "--path", "replicas.yaml"]);
    ok(
        d,
        &[
            "edit",
            "add",
            "patch",
            "--path",
            "port.yaml",
            "--kind",
            "Service",
            "--name",
            "web",
            "--version",
            "v1",
        ],
    );
    ok(d, &["edit", "add", "patch", "--path", "replicas.yaml"]);
    ok(d, &["edit", "add", "label", "env:dev"]);
    ok(d, &["edit", "add", "annotation", "team:blue,oncall:bob"]);
    let err = fails(d, &["edit", "add", "label", "env:prod"]);
    assert!(err.contains("env"), "{err}");
    ok(d, &["edit", "add", "label", "--force", "env:prod"]);
    assert_eq!(
        kfile(d),
        format!(
            "{HEADER}resources:\n- deployment.yaml\n- service.yaml\npatches:\n- path: replicas.yaml\n\
             - path: port.yaml\n  target:\n    kind: Service\n    name: web\n    version: v1\n\
             commonLabels:\n  env: prod\ncommonAnnotations:\n  oncall: bob\n  team: blue\n"
        )
    );
    let objs = build_same(d);
    assert_eq!(find(&objs, "Deployment")["spec"]["replicas"], 5);
    assert_eq!(find(&objs, "Service")["spec"]["ports"][0]["port"], 8080);
    assert_eq!(find(&objs, "Service")["spec"]["selector"]["env"], "prod");
}

#[test]
fn set_image_namespace_prefix_suffix_replicas() {
    let tmp = tree();
    let d = tmp.path();
    ok(
        d,
        &["create", "--resources", "deployment.yaml,service.yaml"],
    );
    ok(d, &["edit", "set", "image", "nginx=nginx:1.27"]);
    let objs = build_same(d);
    assert_eq!(
        find(&objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    ok(
        d,
        &[
            "edit",
            "set",
            "image",
            "nginx=registry.local:5000/web/nginx:2.0",
            "busybox:1.36",
        ],
    );
    let digest = format!("sha256:{}", "ab".repeat(32));
    ok(d, &["edit", "set", "image", &format!("redis@{digest}")]);
    ok(d, &["edit", "set", "namespace", "staging"]);
    ok(d, &["edit", "set", "nameprefix", "a-"]);
    ok(d, &["edit", "set", "namesuffix", "-z"]);
    ok(d, &["edit", "set", "replicas", "web=3"]);
    assert_eq!(
        kfile(d),
        format!(
            "{HEADER}resources:\n- deployment.yaml\n- service.yaml\n\
             images:\n- name: busybox\n  newTag: \"1.36\"\n- name: nginx\n  newName: registry.local:5000/web/nginx\n  newTag: \"2.0\"\n\
             - digest: {digest}\n  name: redis\nnamespace: staging\nnamePrefix: a-\nnameSuffix: -z\nreplicas:\n- count: 3\n  name: web\n"
        )
    );
    let objs = build_same(d);
    let dep = find(&objs, "Deployment");
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local:5000/web/nginx:2.0"
    );
    assert_eq!(dep["metadata"]["namespace"], "staging");
    assert_eq!(dep["metadata"]["name"], "a-web-z");
    assert_eq!(dep["spec"]["replicas"], 3);
    for bad in [
        "nginx",
        "nginx=",
        "=nginx:1",
        "nginx:bad tag",
        "nginx@sha256:xyz",
    ] {
        let err = fails(d, &["edit", "set", "image", bad]);
        assert!(err.contains("invalid image spec"), "{bad}: {err}");
    }
    let err = fails(d, &["edit", "set", "namespace", "Bad_NS"]);
    assert!(err.contains("invalid namespace"), "{err}");
    let err = fails(d, &["edit", "set", "replicas", "web=many"]);
    assert!(err.contains("name=count"), "{err}");
}

#[test]
fn edits_keep_untouched_fields_order_and_comments() {
    let tmp = tree();
    let d = tmp.path();
    std::fs::write(
        d.join("kustomization.yaml"),
        "# shop overlay\nnamespace: shop\n\n# the app\nresources:\n- deployment.yaml\ncommonLabels:\n  app: shop\n",
    )
    .unwrap();
    ok(d, &["edit", "set", "image", "nginx:1.27"]);
    assert_eq!(
        kfile(d),
        format!(
            "# shop overlay\nnamespace: shop\n\n# the app\nresources:\n- deployment.yaml\ncommonLabels:\n  app: shop\n\
             {HEADER}images:\n- name: nginx\n  newTag: \"1.27\"\n"
        )
    );
    let objs = build_same(d);
    assert_eq!(
        find(&objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
}

#[test]
fn edit_without_kustomization_names_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let err = fails(tmp.path(), &["edit", "set", "namespace", "x"]);
    let dir = tmp.path().canonicalize().unwrap();
    assert!(
        err.contains(&dir.display().to_string()) && err.contains("kustomization"),
        "{err}"
    );
}
