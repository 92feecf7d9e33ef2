//! kubectl (with validation, the default) over the real manifests of
//! kubernetes/examples in the shared conformance set: every file whose kinds
//! are all served is applied; then get, describe, edit and `get -o yaml`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::TestServer;
use serde_json::Value;

/// The kubernetes-examples conformance set: $TUG_CONFORMANCE_DIR, else
/// <workspace>/../shared/conformance, else /work/shared/conformance.
fn examples_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("TUG_CONFORMANCE_DIR").map(PathBuf::from),
        Some(workspace.join("../shared/conformance")),
        Some(PathBuf::from("/work/shared/conformance")),
    ];
    for dir in candidates.into_iter().flatten() {
        let examples = dir.join("kubernetes-examples");
        if examples.join("INDEX.md").is_file() {
            return examples;
        }
    }
    panic!("the conformance set is missing: set TUG_CONFORMANCE_DIR to the directory holding kubernetes-examples/");
}

/// One row of INDEX.md's file table: path, its apiVersion/kind pairs, the note.
struct Entry {
    path: String,
    kinds: Vec<(String, String)>,
    note: String,
}

fn index(dir: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(dir.join("INDEX.md")).expect("INDEX.md");
    let mut entries = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 3 || !cells[0].starts_with("manifests/") {
            continue;
        }
        let kinds = cells[1]
            .split(',')
            .map(|k| {
                let (api_version, kind) = k.trim().rsplit_once('/').expect("apiVersion/kind");
                (api_version.to_string(), kind.to_string())
            })
            .collect();
        entries.push(Entry {
            path: cells[0].to_string(),
            kinds,
            note: cells[2].to_string(),
        });
    }
    entries
}

/// The objects of a manifest file (YAML stream or JSON).
fn objects(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("manifest");
    let mut options = serde_saphyr::Options::default();
    // A few upstream files repeat a key; kubectl's YAML reader keeps the last.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    let docs: Vec<Value> = serde_saphyr::from_str_multiple_with_options(&text, options)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    docs.into_iter()
        .flat_map(|d| match d {
            Value::Object(ref o) if o.get("kind").and_then(Value::as_str) == Some("List") => {
                o.get("items").and_then(Value::as_array).cloned().unwrap_or_default()
            }
            Value::Null => vec![],
            d => vec![d],
        })
        .collect()
}

/// Upstream files a real API server rejects too (placeholders, misspelled or
/// nonexistent fields under strict field validation), with the error expected.
const INVALID: &[(&str, &str)] = &[
    ("manifests/_archived/storage/vitess/vttablet-pod-template.yaml", "metadata.name: Invalid value: \"vttablet-{{uid}}\""),
    ("manifests/_archived/volumes/fibre_channel/fc.yaml", "spec.volumes[0].fc.lun"),
    ("manifests/_archived/volumes/rbd/rbd.yaml", "unknown field \"spec.volumes[0].rbd.imagefeatures\""),
    ("manifests/_archived/volumes/scaleio/pod.yaml", "unknown field \"spec.volumes[0].scaleIO.protectionDoamin\""),
    ("manifests/_archived/volumes/storageos/storageos-pod.yaml", "unknown field \"spec.volumes[0].storageos.pool\""),
    ("manifests/_archived/volumes/storageos/storageos-pv.yaml", "unknown field \"spec.storageos.secretName\""),
];

#[test]
fn kubectl_applies_the_kubernetes_examples() {
    let dir = examples_dir();
    let entries = index(&dir);
    assert!(entries.len() > 200, "INDEX.md lists {} files", entries.len());
    let server = TestServer::start();

    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut to_apply = Vec::new();
    for entry in &entries {
        let unserved: Vec<String> = entry
            .kinds
            .iter()
            .filter(|(v, k)| tug_api::registry::by_kind(v, k).is_none())
            .map(|(v, k)| format!("{v}/{k}"))
            .collect();
        if unserved.is_empty() {
            to_apply.push(entry);
        } else {
            let reason = if entry.note.is_empty() {
                format!("not served: {}", unserved.join(", "))
            } else {
                format!("{}: {}", unserved.join(", "), entry.note)
            };
            *skipped.entry(reason).or_default() += 1;
        }
    }

    // The namespaces the manifests name must exist (unless a file creates it).
    let mut namespaces = BTreeSet::new();
    let mut explicit = BTreeSet::new();
    for entry in &to_apply {
        for object in objects(&dir.join(&entry.path)) {
            if let Some(ns) = object.pointer("/metadata/namespace").and_then(Value::as_str) {
                namespaces.insert(ns.to_string());
                explicit.insert(entry.path.clone());
            }
        }
    }
    for ns in &namespaces {
        let out = server.kubectl_output(&["create", "namespace", ns]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() || err.contains("AlreadyExists"), "create namespace {ns}: {err}");
    }

    let mut failures = Vec::new();
    let mut applied = 0;
    let mut rejected = 0;
    // Where each file's objects went (files naming their namespaces: None).
    let mut namespace_of: BTreeMap<&str, String> = BTreeMap::new();
    for (i, entry) in to_apply.iter().enumerate() {
        let path = dir.join(&entry.path);
        let path = path.to_str().expect("utf-8 path");
        let out = if explicit.contains(&entry.path) {
            server.kubectl_output(&["apply", "-f", path])
        } else {
            let ns = format!("ex-{i}");
            server.kubectl(&["create", "namespace", &ns]);
            namespace_of.insert(&entry.path, ns.clone());
            server.kubectl_output(&["apply", "-n", &ns, "-f", path])
        };
        let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        match INVALID.iter().find(|(p, _)| *p == entry.path) {
            Some((_, expected)) if !out.status.success() && output.contains(expected) => rejected += 1,
            Some((_, expected)) => failures.push(format!("{}: expected a rejection with {expected:?}, got:\n{output}", entry.path)),
            None if out.status.success() => applied += 1,
            None => failures.push(format!("{}:\n{output}", entry.path)),
        }
    }
    let skipped_total: usize = skipped.values().sum();
    let reasons: Vec<String> = skipped.iter().map(|(r, n)| format!("{n} {r}")).collect();
    println!(
        "{applied} applied, {skipped_total} skipped ({}), {rejected} rejected as a real API server rejects them",
        reasons.join("; ")
    );
    assert!(failures.is_empty(), "{} of {} files failed:\n{}", failures.len(), to_apply.len(), failures.join("\n"));
    assert!(applied > 150, "only {applied} files applied");

    // Everything lists, across namespaces, with the real columns.
    let all = server.kubectl(&["get", "deploy,svc,sts,cm,secret,hpa,ing", "-A"]);
    for name in ["deployment.apps/frontend", "service/frontend", "horizontalpodautoscaler.autoscaling/gemma-server-hpa", "ingress.networking.k8s.io/tf-serving-ingress"] {
        assert!(all.contains(name), "{name} missing from kubectl get -A:\n{all}");
    }
    assert!(all.contains("NAMESPACE") && all.contains("READY") && all.contains("CLUSTER-IP"), "{all}");

    // describe a Deployment from the examples.
    let ns = &namespace_of["manifests/web/guestbook/frontend-deployment.yaml"];
    let described = server.kubectl(&["describe", "deployment", "frontend", "-n", ns]);
    for line in ["Name:", "Namespace:", "Labels:", "Selector:", "Replicas:"] {
        assert!(described.contains(line), "describe lacks {line}:\n{described}");
    }
    assert!(described.contains(ns.as_str()), "{described}");

    // get -o yaml round-trips: what it prints replaces the object unchanged.
    let printed = server.kubectl(&["get", "deployment", "frontend", "-n", ns, "-o", "yaml"]);
    let before: Value = serde_saphyr::from_str(&printed).expect("kubectl prints YAML");
    let file = server.file("frontend.yaml", &printed);
    server.kubectl(&["replace", "-f", file.to_str().unwrap()]);
    let after: Value = serde_json::from_str(&server.kubectl(&["get", "deployment", "frontend", "-n", ns, "-o", "json"])).unwrap();
    assert_eq!(before["spec"], after["spec"]);
    assert_eq!(before["metadata"]["labels"], after["metadata"]["labels"]);
    assert_eq!(before["metadata"]["uid"], after["metadata"]["uid"]);

    // edit with a scripted editor that changes a value in the file.
    server.kubectl(&["create", "configmap", "settings", "-n", ns, "--from-literal=mode=value-one"]);
    let editor = server.file("editor.sh", "#!/bin/sh\nsed -i 's/value-one/value-two/' \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = server
        .kubectl_command(&["edit", "configmap", "settings", "-n", ns])
        .env("KUBE_EDITOR", &editor)
        .output()
        .expect("kubectl edit runs");
    assert!(out.status.success(), "kubectl edit: {}", String::from_utf8_lossy(&out.stderr));
    let mode = server.kubectl(&["get", "configmap", "settings", "-n", ns, "-o", "jsonpath={.data.mode}"]);
    assert_eq!(mode, "value-two");
}
