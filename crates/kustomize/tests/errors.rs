//! Bad input gives a clear error naming the file (and line where there is
//! one), never a panic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tug_kustomize::{build, build_with, BuildOptions, FileSystem, KustomizeError};

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

fn build_err(dir: &Path) -> String {
    match build(dir, &BuildOptions::default()) {
        Ok(r) => panic!("expected an error, got {} resources", r.len()),
        Err(e) => e.to_string(),
    }
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n";

#[test]
fn missing_resource_file_names_the_kustomization_and_the_entry() {
    let t = tree(&[("kustomization.yaml", "resources:\n- nope.yaml\n")]);
    let e = build_err(t.path());
    assert!(e.contains("kustomization.yaml") && e.contains("nope.yaml"), "{e}");
}

#[test]
fn missing_kustomization_file_is_reported() {
    let t = tree(&[("other.yaml", "a: b\n")]);
    let e = build_err(t.path());
    assert!(e.contains("no kustomization.yaml"), "{e}");
}

#[test]
fn cycle_between_kustomizations_is_reported_with_the_chain() {
    let t = tree(&[
        ("a/kustomization.yaml", "resources:\n- ../b\n"),
        ("b/kustomization.yaml", "resources:\n- ../a\n"),
    ]);
    let e = build(&t.path().join("a"), &BuildOptions::default()).expect_err("cycle");
    assert!(matches!(e, KustomizeError::Cycle { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("/a") && msg.contains("/b"), "{msg}");
}

#[test]
fn patch_that_targets_nothing_names_the_patch_file() {
    let t = tree(&[
        ("kustomization.yaml", "resources:\n- d.yaml\npatches:\n- path: p.yaml\n"),
        ("d.yaml", DEPLOYMENT),
        ("p.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: missing\nspec:\n  replicas: 2\n"),
    ]);
    let e = build(t.path(), &BuildOptions::default()).expect_err("no match");
    assert!(matches!(e, KustomizeError::PatchNoMatch { .. }), "{e}");
    assert!(e.to_string().contains("p.yaml") && e.to_string().contains("missing"), "{e}");
}

#[test]
fn json_patch_on_a_missing_path_names_file_op_and_path() {
    let t = tree(&[
        ("kustomization.yaml", "resources:\n- d.yaml\npatches:\n- path: p.yaml\n  target:\n    kind: Deployment\n"),
        ("d.yaml", DEPLOYMENT),
        ("p.yaml", "- op: replace\n  path: /spec/nothing/here\n  value: 1\n"),
    ]);
    let e = build_err(t.path());
    assert!(e.contains("p.yaml") && e.contains("replace") && e.contains("/spec/nothing/here"), "{e}");
}

#[test]
fn invalid_yaml_names_the_file_and_line() {
    let t = tree(&[
        ("kustomization.yaml", "resources:\n- d.yaml\n"),
        ("d.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: [unclosed\n  b: c\n"),
    ]);
    let e = build_err(t.path());
    assert!(e.contains("d.yaml") && e.contains("invalid yaml"), "{e}");
    assert!(e.contains("line"), "no line number in: {e}");
}

#[test]
fn remote_resources_are_refused_offline() {
    let t = tree(&[("kustomization.yaml", "resources:\n- https://github.com/x/y//base?ref=v1\n")]);
    let e = build_err(t.path());
    assert!(e.contains("remote") && e.contains("kustomization.yaml"), "{e}");
}

#[test]
fn files_outside_the_kustomization_root_are_refused() {
    let t = tree(&[
        ("base/kustomization.yaml", "resources:\n- ../d.yaml\n"),
        ("d.yaml", DEPLOYMENT),
    ]);
    let e = build_err(&t.path().join("base"));
    assert!(e.contains("outside the kustomization directory"), "{e}");
    let ok = build(&t.path().join("base"), &BuildOptions { restrict_to_root: false });
    assert_eq!(ok.map(|r| r.len()).ok(), Some(1));
}

/// An in-memory tree for fuzzing without touching the disk.
struct MemFs(HashMap<PathBuf, Vec<u8>>);

impl FileSystem for MemFs {
    fn read(&self, path: &Path) -> Result<Vec<u8>, KustomizeError> {
        self.0.get(path).cloned().ok_or_else(|| KustomizeError::Io {
            path: path.to_path_buf(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        })
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.0.keys().any(|k| k.starts_with(path) && k != path)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }
    fn canonical(&self, path: &Path) -> Result<PathBuf, KustomizeError> {
        let mut out = PathBuf::new();
        for c in path.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        Ok(out)
    }
}

#[test]
fn mutated_yaml_and_patches_never_panic() {
    let files: [(&str, &str); 4] = [
        ("/k/kustomization.yaml", "namePrefix: p-\ncommonLabels:\n  app: x\nresources:\n- d.yaml\nconfigMapGenerator:\n- name: c\n  literals:\n  - a=b\npatches:\n- path: smp.yaml\n- path: json.yaml\n  target:\n    kind: Deployment\nimages:\n- name: nginx\n  newTag: \"1\"\n"),
        ("/k/d.yaml", DEPLOYMENT),
        ("/k/smp.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        $patch: replace\n        env:\n        - name: A\n          value: b\n"),
        ("/k/json.yaml", "- op: add\n  path: /spec/replicas\n  value: 3\n- op: move\n  from: /spec/replicas\n  path: /spec/template/x\n"),
    ];
    let alphabet: &[u8] = b" -:\n[]{}$/~01#'\"|>&*!%@`,?ab";
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..1500 {
        let mut map: HashMap<PathBuf, Vec<u8>> =
            files.iter().map(|(p, t)| (PathBuf::from(p), t.as_bytes().to_vec())).collect();
        let victim = PathBuf::from(files[(next() % 4) as usize].0);
        if let Some(bytes) = map.get_mut(&victim) {
            for _ in 0..(1 + next() % 4) {
                let i = (next() as usize) % bytes.len().max(1);
                match next() % 3 {
                    0 if !bytes.is_empty() => {
                        bytes.remove(i);
                    }
                    1 => bytes.insert(i.min(bytes.len()), alphabet[(next() as usize) % alphabet.len()]),
                    _ if !bytes.is_empty() => bytes[i] = alphabet[(next() as usize) % alphabet.len()],
                    _ => {}
                }
            }
        }
        let fs = MemFs(map);
        let _ = build_with(&fs, Path::new("/k"), &BuildOptions::default());
    }
}
