//! Conformance against Helm: the `helm template` goldens of Helm's own test suite
//! (`helm/cases.yaml`) and the per-template engine output of the bitnami charts
//! (`helm-bitnami/scenarios`). Prints `N passed, M failed` with short diffs, and fails
//! when fewer than [`FLOOR`] cases pass. Fixtures: `$TUG_CONFORMANCE_DIR`, else
//! `<workspace>/../shared/conformance`, else `/work/shared/conformance`.

use std::path::{Path, PathBuf};

use tug_chart::{
    load, render_chart, template, Capabilities, Error, Release, TemplateOptions, UserValues,
};
use tug_gotemplate::Value;

/// Cases that pass today; raise it when more do.
const FLOOR: usize = 24;

fn fixtures() -> PathBuf {
    let candidates = [
        std::env::var("TUG_CONFORMANCE_DIR").ok().map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")),
        Some(PathBuf::from("/work/shared/conformance")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("helm/cases.yaml").exists())
        .expect("conformance fixtures not found: set TUG_CONFORMANCE_DIR")
}

/// What `tug chart template` prints on stderr for an error.
fn error_text(e: &Error) -> String {
    match e {
        Error::ManifestYaml { .. } => {
            format!("Error: {e}\n\nUse --debug flag to render out invalid YAML")
        }
        e => format!("Error: {e}"),
    }
}

/// Runs one `helm template` case from its CLI arguments.
fn run_case(dir: &Path, chart: &str, args: &[String]) -> String {
    let mut user = UserValues::default();
    let mut opts = TemplateOptions {
        capabilities: Capabilities {
            kube_version: "v1.20.0".into(),
            ..Capabilities::default()
        },
        ..TemplateOptions::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut next = || it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--set" => user.set.push(next()),
            "--values" | "-f" => user.files.push(dir.join(next())),
            "--kube-version" => {
                opts.capabilities = opts
                    .capabilities
                    .clone()
                    .with_kube_version(&next())
                    .expect("kube version")
            }
            "--api-versions" => opts.capabilities.api_versions.push(next()),
            "--include-crds" => opts.include_crds = true,
            "--skip-tests" => opts.skip_tests = true,
            "--show-only" => opts.show_only.push(next()),
            "--debug" => {}
            a if a.starts_with("--name-template=") => {
                let src = &a["--name-template=".len()..];
                opts.release.name =
                    tug_gotemplate::render(src, &Value::Nil).expect("name template");
            }
            a => panic!("unsupported argument {a}"),
        }
    }
    let result = load(&dir.join(chart)).and_then(|c| {
        opts.values = user.merge()?;
        template(&c, &opts)
    });
    match result {
        Ok(s) => s,
        Err(e) => error_text(&e),
    }
}

fn short_diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let i = w
        .iter()
        .zip(g.iter())
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    let from = i.saturating_sub(2);
    format!(
        "    first difference at line {}\n    want: {:?}\n    got:  {:?}",
        i + 1,
        w[from..(i + 3).min(w.len())].join("\n"),
        g[from..(i + 3).min(g.len())].join("\n")
    )
}

fn helm_cases(root: &Path, passed: &mut usize, failed: &mut Vec<String>) {
    let dir = root.join("helm");
    let text = std::fs::read_to_string(dir.join("cases.yaml")).expect("cases.yaml");
    let cases = tug_gotemplate::funcs::yaml::from_yaml(&text)
        .expect("cases.yaml parses")
        .to_json();
    for c in cases["cases"].as_array().expect("cases list") {
        let name = c["name"].as_str().unwrap_or("?");
        let args: Vec<String> = c["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let want =
            std::fs::read_to_string(dir.join(c["golden"].as_str().unwrap_or(""))).expect("golden");
        let got = run_case(&dir, c["chart"].as_str().unwrap_or(""), &args);
        if got.trim_end() == want.trim_end() {
            *passed += 1;
        } else {
            failed.push(format!("helm: {name}\n{}", short_diff(&want, &got)));
        }
    }
}

fn bitnami_cases(root: &Path, passed: &mut usize, failed: &mut Vec<String>) {
    let dir = root.join("helm-bitnami");
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(dir.join("scenarios"))
        .expect("scenarios")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".values.yaml"))
        .collect();
    scenarios.sort();
    for values in scenarios {
        let stem = values
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .trim_end_matches(".values.yaml")
            .to_string();
        let chart_name = stem.split('-').next().unwrap_or("");
        let expected: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            &std::fs::read_to_string(dir.join("scenarios").join(format!("{stem}.rendered.json")))
                .expect("rendered.json"),
        )
        .expect("json");
        let user = UserValues {
            files: vec![values.clone()],
            ..UserValues::default()
        };
        let opts = |v| TemplateOptions {
            release: Release {
                name: "my-release".into(),
                namespace: "web".into(),
                ..Release::default()
            },
            capabilities: Capabilities {
                kube_version: "v1.36.0".into(),
                ..Capabilities::default()
            },
            values: v,
            ..TemplateOptions::default()
        };
        let result = load(&dir.join("charts").join(chart_name))
            .and_then(|c| render_chart(&c, &opts(user.merge()?)));
        let rendered = match result {
            Ok((_, r)) => r,
            Err(e) => {
                failed.push(format!("bitnami: {stem}: {e}"));
                continue;
            }
        };
        let mut problems = Vec::new();
        for (path, want) in &expected {
            let want = want.as_str().unwrap_or("");
            match rendered.get(path) {
                None => problems.push(format!("  {path}: not rendered")),
                Some(got) if got != want => {
                    problems.push(format!("  {path}:\n{}", short_diff(want, got)))
                }
                Some(_) => {}
            }
        }
        for path in rendered.keys().filter(|p| !expected.contains_key(*p)) {
            problems.push(format!("  {path}: rendered but not expected"));
        }
        if problems.is_empty() {
            *passed += 1;
        } else {
            failed.push(format!("bitnami: {stem}\n{}", problems.join("\n")));
        }
    }
}

#[test]
fn renders_like_helm() {
    let root = fixtures();
    let mut passed = 0;
    let mut failed = Vec::new();
    helm_cases(&root, &mut passed, &mut failed);
    bitnami_cases(&root, &mut passed, &mut failed);
    for f in &failed {
        eprintln!("FAIL {f}");
    }
    println!("{passed} passed, {} failed", failed.len());
    assert!(
        passed >= FLOOR,
        "conformance regressed: {passed} passed, floor is {FLOOR}"
    );
}
