//! Differential test: generated kustomization trees (prefixes, suffixes,
//! labels, annotations, generators, patches of every style, components,
//! nested overlays, namespaces, images, replicas) build to the same objects
//! as `kubectl kustomize`, the reference implementation on this machine.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tug_kustomize::{build, BuildOptions};

const KUBECTL: &str = "/usr/bin/kubectl";
const TREES: u64 = 40;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

const BASE: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    tier: front
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
      serviceAccountName: runner
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
        env:
        - name: MODE
          value: base
        envFrom:
        - configMapRef:
            name: settings
        volumeMounts:
        - name: conf
          mountPath: /etc/conf
      - name: sidecar
        image: busybox
        args: ["sleep", "1000"]
      volumes:
      - name: conf
        configMap:
          name: settings
      - name: creds
        secret:
          secretName: creds
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: runner
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: runner-binding
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: reader
subjects:
- kind: ServiceAccount
  name: runner
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get"]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
  - host: example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
"#;

/// Writes a random tree under `root` and returns the directory to build.
fn generate(root: &Path, rng: &mut Rng) -> String {
    write(root, "base/resources.yaml", BASE);
    write(root, "base/app.properties", "color=blue\nsize=10\n");
    write(
        root,
        "base/kustomization.yaml",
        "resources:\n- resources.yaml\nconfigMapGenerator:\n- name: settings\n  files:\n  - app.properties\n  literals:\n  - LEVEL=base\nsecretGenerator:\n- name: creds\n  literals:\n  - password=s3cret\n",
    );
    if rng.chance(50) {
        write(
            root,
            "components/debug/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nconfigMapGenerator:\n- name: settings\n  behavior: merge\n  literals:\n  - DEBUG=true\npatches:\n- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: web\n    spec:\n      template:\n        spec:\n          containers:\n          - name: web\n            env:\n            - name: DEBUG\n              value: \"1\"\n",
        );
    }
    let levels = 1 + rng.next() % 3;
    let mut below = "base".to_string();
    for level in 0..levels {
        let dir = format!("overlay{level}");
        let mut k = format!("resources:\n- ../{below}\n");
        if level == 0 && root.join("components/debug").is_dir() {
            k.push_str("components:\n- ../components/debug\n");
        }
        if rng.chance(60) {
            k.push_str(&format!("namePrefix: {}-\n", rng.pick(&["dev", "prod", "l"])));
        }
        if rng.chance(30) {
            k.push_str(&format!("nameSuffix: -{}\n", rng.pick(&["v1", "x"])));
        }
        if rng.chance(40) {
            k.push_str(&format!("commonLabels:\n  env: {}\n", rng.pick(&["dev", "prod"])));
        }
        if rng.chance(30) {
            let flag = rng.pick(&["includeSelectors: true", "includeTemplates: true", "includeSelectors: false"]);
            k.push_str(&format!("labels:\n- pairs:\n    team: t{level}\n  {flag}\n"));
        }
        if rng.chance(40) {
            k.push_str(&format!("commonAnnotations:\n  note: level-{level}\n"));
        }
        if level + 1 == levels && rng.chance(40) {
            k.push_str("namespace: apps\n");
        }
        if rng.chance(40) {
            k.push_str(&format!("images:\n- name: nginx\n  newTag: \"1.{level}\"\n- name: busybox\n  newName: registry.local/busybox\n"));
        }
        if rng.chance(30) {
            k.push_str(&format!("replicas:\n- name: web\n  count: {}\n", 2 + level));
        }
        let mut gens = String::new();
        if rng.chance(50) {
            gens.push_str(&format!("configMapGenerator:\n- name: settings\n  behavior: merge\n  literals:\n  - LEVEL=l{level}\n"));
        }
        if rng.chance(30) {
            write(root, &format!("{dir}/extra.env"), "A=1\nB=two\n# comment\n");
            let opt = if rng.chance(50) { "  options:\n    disableNameSuffixHash: true\n" } else { "" };
            gens.push_str(&format!("{}- name: extra{level}\n  envs:\n  - extra.env\n{opt}", if gens.is_empty() { "configMapGenerator:\n" } else { "" }));
        }
        k.push_str(&gens);
        let mut patches = String::new();
        if rng.chance(50) {
            write(
                root,
                &format!("{dir}/smp.yaml"),
                &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        env:\n        - name: MODE\n          value: l{level}\n        - name: NEW{level}\n          value: x\n      - name: extra{level}\n        image: alpine\n"),
            );
            patches.push_str("- path: smp.yaml\n");
        }
        if rng.chance(40) {
            patches.push_str(&format!("- target:\n    kind: Deployment\n  patch: |-\n    - op: add\n      path: /metadata/annotations\n      value:\n        json: \"l{level}\"\n"));
        }
        if rng.chance(30) {
            patches.push_str("- target:\n    labelSelector: tier=front\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: ignored\n    spec:\n      template:\n        spec:\n          containers:\n          - name: sidecar\n            $patch: delete\n");
        }
        if rng.chance(30) {
            patches.push_str("- patch: |-\n    apiVersion: v1\n    kind: Service\n    metadata:\n      name: web\n    spec:\n      ports:\n      - port: 80\n        name: http\n      - port: 443\n        name: https\n");
        }
        if !patches.is_empty() {
            k.push_str("patches:\n");
            k.push_str(&patches);
        }
        write(root, &format!("{dir}/kustomization.yaml"), &k);
        below = dir;
    }
    below
}

fn parse(text: &str) -> Vec<Value> {
    let mut opts = serde_saphyr::Options::default();
    opts.legacy_octal_numbers = true;
    opts.strict_booleans = true;
    let docs: Vec<Value> = serde_saphyr::from_str_multiple_with_options(text, opts).expect("kubectl output parses");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

#[test]
fn generated_trees_build_like_kubectl_kustomize() {
    if !Path::new(KUBECTL).exists() {
        assert!(std::env::var_os("CI").is_none(), "{KUBECTL} is required in CI");
        eprintln!("skipping: {KUBECTL} not installed");
        return;
    }
    let mut failures = Vec::new();
    for seed in 1..=TREES {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let tmp = tempfile::tempdir().expect("temp dir");
        let top = generate(tmp.path(), &mut rng);
        let dir = tmp.path().join(&top);
        let reference = Command::new(KUBECTL).arg("kustomize").arg(&dir).output().expect("run kubectl");
        let ours = build(&dir, &BuildOptions::default());
        match (reference.status.success(), ours) {
            (true, Ok(objects)) => {
                let expected = parse(&String::from_utf8_lossy(&reference.stdout));
                if objects != expected {
                    let tree = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap_or_default();
                    failures.push(format!(
                        "seed {seed}: objects differ\n{tree}\n--- kubectl\n{}\n--- tug\n{}",
                        tug_kustomize::to_yaml(&expected),
                        tug_kustomize::to_yaml(&objects)
                    ));
                }
            }
            (false, Err(_)) => {}
            (true, Err(e)) => failures.push(format!("seed {seed}: kubectl succeeded, tug failed: {e}")),
            (false, Ok(_)) => failures.push(format!(
                "seed {seed}: tug succeeded, kubectl failed: {}",
                String::from_utf8_lossy(&reference.stderr)
            )),
        }
        if !failures.is_empty() {
            // Keep the first failing tree for inspection.
            let kept = tmp.keep();
            failures.push(format!("tree kept at {}", kept.display()));
            break;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
