//! Every kustomize conformance case (kustomize's own examples and site docs)
//! builds to the objects kustomize v5.5.0 printed, in the same order.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tug_kustomize::{build, to_yaml, BuildOptions};

/// Cases that pass today; fewer is a regression.
const PASS_FLOOR: usize = 71;

/// The shared fixtures: $TUG_CONFORMANCE_DIR, else `shared/conformance` beside the
/// checkout, else the machine's /work/shared/conformance (where CI clones elsewhere).
fn conformance_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TUG_CONFORMANCE_DIR") {
        return PathBuf::from(d);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared/conformance")
}

fn parse_yaml(text: &str) -> Vec<Value> {
    let mut opts = serde_saphyr::Options::default();
    opts.legacy_octal_numbers = true;
    opts.strict_booleans = true;
    let docs: Vec<Value> = serde_saphyr::from_str_multiple_with_options(text, opts).expect("expected.yaml parses");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn cases() -> Vec<PathBuf> {
    let root = conformance_dir();
    let mut out = Vec::new();
    for suite in ["kustomize-examples", "kustomize-site-docs"] {
        let dir = root.join(suite);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("conformance fixtures missing at {}: {e}", dir.display()));
        for e in entries.flatten() {
            if e.path().join("case.yaml").is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Lines only in one of the two renderings (enough to see what differs).
fn short_diff(expected: &str, actual: &str) -> String {
    let exp: Vec<&str> = expected.lines().collect();
    let act: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for l in exp.iter().filter(|l| !act.contains(l)).take(15) {
        out.push_str(&format!("    - {l}\n"));
    }
    for l in act.iter().filter(|l| !exp.contains(l)).take(15) {
        out.push_str(&format!("    + {l}\n"));
    }
    out
}

fn run_case(case: &Path) -> Result<(), String> {
    let meta = parse_yaml(&std::fs::read_to_string(case.join("case.yaml")).map_err(|e| e.to_string())?);
    let build_dir = meta
        .first()
        .and_then(|m| m.get("build"))
        .and_then(|b| b.get("dir"))
        .and_then(Value::as_str)
        .ok_or("case.yaml has no build.dir")?;
    let expected_text = std::fs::read_to_string(case.join("expected.yaml")).map_err(|e| e.to_string())?;
    let expected = parse_yaml(&expected_text);
    let actual = build(&case.join(build_dir), &BuildOptions::default()).map_err(|e| format!("build failed: {e}"))?;
    if actual == expected {
        return Ok(());
    }
    let mut msg = format!("expected {} documents, got {}\n", expected.len(), actual.len());
    msg.push_str(&short_diff(&to_yaml(&expected), &to_yaml(&actual)));
    Err(msg)
}

#[test]
fn conformance_cases_build_like_kustomize() {
    let cases = cases();
    assert!(!cases.is_empty(), "no conformance cases found under {}", conformance_dir().display());
    let mut passed = 0;
    let mut failed = Vec::new();
    for case in &cases {
        let name = case.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match run_case(case) {
            Ok(()) => passed += 1,
            Err(msg) => {
                println!("FAIL {name}: {msg}");
                failed.push(name);
            }
        }
    }
    println!("{passed} passed, {} failed", failed.len());
    assert!(
        passed >= PASS_FLOOR,
        "{passed} conformance cases pass, below the floor of {PASS_FLOOR}; failing: {failed:?}"
    );
}
