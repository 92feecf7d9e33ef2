//! Differential test: the same templates rendered by Helm's own engine (PyPI
//! `helm-python-sdk`, which embeds Helm's Go engine) and by ours must match.
//! Skips (with a notice) when Python or the package is unavailable; set
//! `TUG_REQUIRE_HELM_SDK=1` (CI) to make that a failure. `TUG_PYTHON` picks the interpreter.

use std::path::Path;
use std::process::Command;

use tug_gotemplate::{MissingKey, Template, Value};

fn cases(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("cases.txt")).expect("cases.txt");
    // One template per line; a line starting with `{{-` continues the previous case.
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if (line.starts_with("{{-") || line.starts_with("yes") || line.starts_with("no")) && !out.is_empty() {
            let last = out.last_mut().expect("non-empty");
            last.push('\n');
            last.push_str(line);
        } else {
            out.push(line.to_string());
        }
    }
    out
}

fn ours(dir: &Path, src: &str) -> String {
    let values = tug_gotemplate::funcs::yaml::from_yaml(&std::fs::read_to_string(dir.join("values.yaml")).unwrap()).unwrap();
    let root = tug_gotemplate::Map::new();
    root.insert("Values", values);
    let tmpl = tug_gotemplate::Map::new();
    tmpl.insert("Name", Value::str("diff/templates/case.txt"));
    tmpl.insert("BasePath", Value::str("diff/templates"));
    root.insert("Template", Value::Map(tmpl));
    let mut t = Template::new("gotpl").missing_key(MissingKey::Zero);
    match t.parse("diff/templates/case.txt", src).and_then(|_| t.execute("diff/templates/case.txt", &Value::Map(root))) {
        Ok(s) => s.replace("<no value>", ""),
        Err(e) => format!("ERROR: {e}"),
    }
}

#[test]
fn renders_like_helm() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential");
    let cases = cases(&dir);
    let input = std::env::temp_dir().join(format!("tug-gotemplate-diff-{}.json", std::process::id()));
    std::fs::write(&input, serde_json::to_string(&cases).unwrap()).unwrap();
    let python = std::env::var("TUG_PYTHON").unwrap_or_else(|_| "python3".into());
    let res = Command::new(&python).arg(dir.join("render_helm.py")).arg(&input).output();
    let _ = std::fs::remove_file(&input);
    let required = std::env::var("TUG_REQUIRE_HELM_SDK").is_ok_and(|v| v == "1");
    let out = match res {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => {
            let msg = String::from_utf8_lossy(&o.stderr).to_string();
            assert!(!required, "helm-python-sdk failed: {msg}");
            eprintln!("skipping differential test: helm-python-sdk unavailable: {}", msg.lines().last().unwrap_or(""));
            return;
        }
        Err(e) => {
            assert!(!required, "cannot run {python}: {e}");
            eprintln!("skipping differential test: cannot run {python}: {e}");
            return;
        }
    };
    let helm: Vec<String> = serde_json::from_slice(&out).expect("json from render_helm.py");
    let mut failed = 0;
    for (k, (src, want)) in cases.iter().zip(helm.iter()).enumerate() {
        if src.contains("uuidv4") || src.contains("rand") {
            continue;
        }
        let got = ours(&dir, src);
        let same = if want.starts_with("ERROR") { got.starts_with("ERROR") } else { &got == want };
        if !same {
            failed += 1;
            eprintln!("case {k}: {src}\n  helm: {want:?}\n  ours: {got:?}");
        }
    }
    println!("{} passed, {failed} failed", cases.len() - failed);
    assert_eq!(failed, 0, "{failed} cases differ from Helm");
}
