//! Bad input gives clear errors: template syntax errors with file and line, a
//! missing `required` value, values failing the schema, a missing dependency, a
//! hostile archive.

use std::path::Path;

use tug_chart::{load, template, Error, TemplateOptions, UserValues};

fn write(root: &Path, files: &[(&str, &str)]) {
    for (name, body) in files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

fn render(files: &[(&str, &str)], set: &[&str]) -> Result<String, Error> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), files);
    let chart = load(dir.path())?;
    let user = UserValues {
        set: set.iter().map(|s| s.to_string()).collect(),
        ..UserValues::default()
    };
    template(
        &chart,
        &TemplateOptions {
            values: user.merge()?,
            ..TemplateOptions::default()
        },
    )
}

const CHART: (&str, &str) = ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\n");

#[test]
fn template_syntax_error_names_file_and_line() {
    let err = render(
        &[
            CHART,
            (
                "templates/cm.yaml",
                "kind: ConfigMap\ndata:\n  a: {{ .Values.a | quote }\n",
            ),
        ],
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("parse error at (app/templates/cm.yaml:3): "),
        "{err}"
    );
}

#[test]
fn missing_required_value_is_reported_like_helm() {
    let err = render(&[CHART, ("templates/cm.yaml", "kind: ConfigMap\nname: {{ required \"image.tag is required\" .Values.image.tag }}\n"), ("values.yaml", "image: {}\n")], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "execution error at (app/templates/cm.yaml:2:9): image.tag is required"
    );
    assert!(render(
        &[
            CHART,
            (
                "templates/cm.yaml",
                "kind: ConfigMap\nname: {{ required \"x\" .Values.image.tag }}\n"
            ),
            ("values.yaml", "image: {}\n")
        ],
        &["image.tag=v1"]
    )
    .is_ok());
}

#[test]
fn values_failing_the_schema_are_listed() {
    let schema = r#"{"type":"object","required":["port"],"properties":{"port":{"type":"integer","minimum":1}}}"#;
    let files = [
        CHART,
        ("values.schema.json", schema),
        ("values.yaml", "port: 80\n"),
        ("templates/a.yaml", "kind: A\n"),
    ];
    assert!(
        render(&files, &[]).is_ok(),
        "a float-decoded 80 is an integer"
    );
    let err = render(&files, &["port=0"]).unwrap_err().to_string();
    assert!(err.starts_with("values don't meet the specifications of the schema(s) in the following chart(s):\napp:\n- port: 0 is less than the minimum of 1"), "{err}");
    let err = render(&files, &["port=null"]).unwrap_err().to_string();
    assert!(
        err.contains("- (root): \"port\" is a required property"),
        "{err}"
    );
}

#[test]
fn the_schema_checks_values_before_templates_run_and_its_error_comes_first() {
    // The check runs while the templates execute, on the values as they were before:
    // a template that changes them changes neither the verdict nor which error wins.
    let schema = r#"{"type":"object","properties":{"port":{"type":"integer","minimum":1}}}"#;
    let files = [
        CHART,
        ("values.schema.json", schema),
        ("values.yaml", "port: 80\n"),
        ("templates/a.yaml", "{{ $_ := set .Values \"port\" 0 }}kind: A\n"),
        ("templates/b.yaml", "{{ $_ := set .Values \"port\" 9 }}{{ if .Values.boom }}{{ fail \"boom\" }}{{ end }}kind: B\n"),
    ];
    assert!(render(&files, &[]).is_ok(), "the schema saw port 80");
    let err = render(&files, &["port=0", "boom=true"]).unwrap_err().to_string();
    assert!(err.starts_with("values don't meet the specifications"), "{err}");
    let err = render(&files, &["boom=true"]).unwrap_err().to_string();
    assert!(err.contains("boom"), "{err}");
}

#[test]
fn missing_dependency_is_an_error() {
    let chart = (
        "Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: db\n  version: 1.x\n",
    );
    let err = render(&[chart, ("templates/a.yaml", "kind: A\n")], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "found in Chart.yaml, but missing in charts/ directory: db"
    );
    let wrong_version = [
        chart,
        (
            "charts/db/Chart.yaml",
            "apiVersion: v2\nname: db\nversion: 2.0.0\n",
        ),
    ];
    assert!(matches!(
        render(&wrong_version, &[]),
        Err(Error::MissingDependency(_))
    ));
    let right_version = [
        chart,
        (
            "charts/db/Chart.yaml",
            "apiVersion: v2\nname: db\nversion: 1.4.0\n",
        ),
    ];
    assert!(render(&right_version, &[]).is_ok());
}

#[test]
fn hostile_archive_subchart_is_refused() {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let body = b"owned";
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.as_old_mut().name[..17].copy_from_slice(b"db/../../evil.txt");
    h.set_cksum();
    tar.append(&h, &body[..]).unwrap();
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[CHART]);
    std::fs::create_dir_all(dir.path().join("charts")).unwrap();
    std::fs::write(dir.path().join("charts/db-1.0.0.tgz"), bytes).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "chart illegally references a file outside the chart: db/../../evil.txt"
    );
}

#[test]
fn library_chart_cannot_be_templated() {
    let err = render(
        &[(
            "Chart.yaml",
            "apiVersion: v2\nname: lib\nversion: 1.0.0\ntype: library\n",
        )],
        &[],
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "library charts are not installable");
}
