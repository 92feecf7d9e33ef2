//! From rendered templates to `helm template` output: split each file into YAML
//! documents, set hooks apart, sort by Helm's install order (kind, then file name,
//! then position in the file), and print with `# Source:` headers.

use tug_gotemplate::Value;

use crate::capabilities::Capabilities;
use crate::loader::Chart;
use crate::render::{parse_alongside, Lookup, Release, Rendered};
use crate::values::{coalesce, deps};
use crate::Error;

/// Kinds in the order Helm installs them; other kinds follow, by name.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// One YAML document of a rendered template.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The template path (`chart/templates/x.yaml`).
    pub source: String,
    pub content: String,
    pub kind: String,
    /// The `helm.sh/hook` annotation, for hooks.
    pub hook: Option<String>,
}

/// Options of `helm template`.
#[derive(Clone, Debug, Default)]
pub struct TemplateOptions {
    pub release: Release,
    pub capabilities: Capabilities,
    /// Merged user values (see [`crate::values::UserValues::merge`]).
    pub values: Value,
    pub show_only: Vec<String>,
    pub include_crds: bool,
    pub skip_tests: bool,
    pub skip_schema_validation: bool,
    /// How `lookup` reads the cluster (none: an empty map, as offline).
    pub lookup: Option<Lookup>,
}

/// Splits a rendered file at `---` lines, as Helm's `SplitManifests` does with the
/// regular expression `(?:^|\s*\n)---\s*`: a `---` at the start of the text or of a line
/// ends a document, and the space around it goes with it. Hand-written (Go's `\s`:
/// space, tab, newline, form feed, carriage return) because it runs on every rendered
/// file and a regex search was a fifth of `tug chart template`'s time.
pub fn split_documents(text: &str) -> Vec<String> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r');
    let text = text.trim();
    let b = text.as_bytes();
    let mut docs = Vec::new();
    let mut last = 0;
    let mut i = 0;
    while i + 3 <= b.len() {
        let at_line_start = i == 0 || (i > last && b[i - 1] == b'\n');
        if !(at_line_start && &b[i..i + 3] == b"---") {
            i += 1;
            continue;
        }
        let mut start = i;
        if i > 0 {
            start = i - 1;
            while start > last && is_space(b[start - 1]) {
                start -= 1;
            }
        }
        docs.push(&text[last..start]);
        let mut end = i + 3;
        while end < b.len() && is_space(b[end]) {
            end += 1;
        }
        last = end;
        i = end;
    }
    docs.push(&text[last..]);
    docs.into_iter()
        .filter(|d| !d.is_empty())
        .map(|d| d.trim().to_string())
        .collect()
}

fn kind_rank(kind: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|k| *k == kind)
}

/// Stable sort by install order; unknown kinds last, among themselves by kind name.
pub fn sort_by_kind(manifests: &mut [Manifest]) {
    manifests.sort_by(|a, b| match (kind_rank(&a.kind), kind_rank(&b.kind)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.kind.cmp(&b.kind),
    });
}

/// Whether a rendered file is split into manifests: not a partial, not NOTES.txt, not blank.
fn holds_manifests(path: &str, text: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    !(base.starts_with('_') || base == "NOTES.txt" || text.trim().is_empty())
}

/// The manifests of every file (in path order, so the first error is the first file's),
/// hooks apart, each list in install order.
fn sorted(files: Vec<Result<Vec<Manifest>, Error>>) -> Result<(Vec<Manifest>, Vec<Manifest>), Error> {
    let mut generic = Vec::new();
    let mut hooks = Vec::new();
    for file in files {
        for m in file? {
            if m.hook.is_some() {
                hooks.push(m);
            } else {
                generic.push(m);
            }
        }
    }
    sort_by_kind(&mut generic);
    sort_by_kind(&mut hooks);
    Ok((generic, hooks))
}

/// The documents of one rendered file, each with its kind and hook.
fn file_manifests(path: &str, text: &str) -> Result<Vec<Manifest>, Error> {
    split_documents(text)
        .into_iter()
        .map(|doc| {
            let head = match tug_gotemplate::funcs::yaml_block::read(&doc) {
                Some(v) => Head::of(&v),
                None => tug_gotemplate::funcs::yaml::from_yaml_as(&doc).map_err(|e| {
                    Error::ManifestYaml {
                        file: path.to_string(),
                        msg: format!("error converting YAML to JSON: yaml: {e}"),
                    }
                })?,
            };
            Ok(Manifest {
                source: path.to_string(),
                content: doc,
                kind: head.kind,
                hook: head.hook,
            })
        })
        .collect()
}

/// What ordering needs of a manifest: its `kind` and `helm.sh/hook` annotation (empty
/// and none when absent or not strings). The document is still parsed in full, so
/// invalid YAML is an error, but nothing else of it is built.
#[derive(Default)]
struct Head {
    kind: String,
    hook: Option<String>,
}

impl Head {
    /// The head of a document already read.
    fn of(doc: &Value) -> Head {
        Head {
            kind: field(doc, "kind").as_str().unwrap_or("").to_string(),
            hook: hook_of(&field(doc, "metadata")),
        }
    }
}

fn field(v: &Value, k: &str) -> Value {
    match v {
        Value::Map(m) => m.get(k).unwrap_or(Value::Nil),
        _ => Value::Nil,
    }
}

/// The `helm.sh/hook` annotation of a manifest's `metadata`.
fn hook_of(metadata: &Value) -> Option<String> {
    field(&field(metadata, "annotations"), "helm.sh/hook")
        .as_str()
        .map(str::to_string)
}

impl<'de> serde::Deserialize<'de> for Head {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Head, D::Error> {
        d.deserialize_any(HeadVisitor)
    }
}

struct HeadVisitor;

impl<'de> serde::de::Visitor<'de> for HeadVisitor {
    type Value = Head;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML document")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Head, A::Error> {
        let mut head = Head::default();
        while let Some(key) = a.next_key::<Value>()? {
            match key.as_str() {
                Some("kind") => {
                    let v: Value = a.next_value()?;
                    head.kind = v.as_str().unwrap_or("").to_string();
                }
                Some("metadata") => {
                    head.hook = hook_of(&a.next_value()?);
                }
                _ => {
                    a.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(head)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Head, A::Error> {
        while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Head::default())
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Head, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_none<E>(self) -> Result<Head, E> {
        Ok(Head::default())
    }
    fn visit_unit<E>(self) -> Result<Head, E> {
        Ok(Head::default())
    }
    fn visit_bool<E>(self, _: bool) -> Result<Head, E> {
        Ok(Head::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Head, E> {
        Ok(Head::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Head, E> {
        Ok(Head::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Head, E> {
        Ok(Head::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<Head, E> {
        Ok(Head::default())
    }
}

fn is_test_hook(m: &Manifest) -> bool {
    m.hook.as_deref().is_some_and(|h| {
        h.split(',')
            .any(|e| matches!(e.trim(), "test" | "test-success"))
    })
}

/// Appends the `crds/` files of a chart and its subcharts, with `# Source:` headers.
pub fn crds(chart: &Chart, full_path: &str, out: &mut String) {
    for f in chart.crds() {
        out.push_str(&format!(
            "---\n# Source: {full_path}/{}\n{}\n",
            f.name,
            String::from_utf8_lossy(&f.data)
        ));
    }
    for sub in &chart.dependencies {
        crds(sub, &format!("{full_path}/charts/{}", sub.name()), out);
    }
}

/// Processes dependencies, coalesces and validates values, and renders every
/// template (NOTES.txt included): Helm's engine output for a chart and options.
/// Returns the processed chart (aliases applied, disabled subcharts removed) too.
pub fn render_chart(chart: &Chart, opts: &TemplateOptions) -> Result<(Chart, Rendered), Error> {
    render(chart, opts, false).map(|(chart, rendered, _)| (chart, rendered))
}

/// A chart rendered, with its manifests split (generic, then hooks), as installs need.
pub struct Split {
    pub chart: Chart,
    pub rendered: Rendered,
    pub generic: Vec<Manifest>,
    pub hooks: Vec<Manifest>,
}

/// [`render_chart`], and every rendered file (NOTES.txt and partials left out) split
/// into manifests and hooks, each sorted in install order. The helper thread splits each
/// file as soon as it is rendered.
pub fn render_split(chart: &Chart, opts: &TemplateOptions) -> Result<Split, Error> {
    let (chart, rendered, split) = render(chart, opts, true)?;
    let (generic, hooks) = sorted(split)?;
    Ok(Split { chart, rendered, generic, hooks })
}

type FileManifests = Vec<Result<Vec<Manifest>, Error>>;

/// [`render_chart`], and with `split` each rendered file's manifests, in path order.
fn render(chart: &Chart, opts: &TemplateOptions, split: bool) -> Result<(Chart, Rendered, FileManifests), Error> {
    if chart.metadata.is_library() {
        return Err(Error::Library);
    }
    let user = match &opts.values {
        Value::Map(m) => m.clone(),
        _ => tug_gotemplate::Map::new(),
    };
    // The schemas compile on the helper while this thread processes dependencies;
    // parsing the templates needs no values, so it runs while they are coalesced; the
    // schemas then check a snapshot of the values as the templates start to execute.
    // A schema error still comes before any template error, as in Helm.
    let compiling = (!opts.skip_schema_validation).then(|| crate::schema::compile(chart));
    let processed = deps::process(chart, &user)?;
    let (parsed, (values, snapshot)) = parse_alongside(&processed, opts.lookup.as_ref(), || {
        let values = Value::Map(user.clone()).deep_copy();
        if let Value::Map(m) = &values {
            coalesce(&processed, m);
        }
        let snapshot = compiling.map(|c| (crate::schema::snapshot(&processed, &values), c));
        (values, snapshot)
    });
    // Each file is split into manifests on the thread that rendered it.
    let each = |path: &str, text: &str| {
        (split && holds_manifests(path, text)).then(|| (path.to_string(), file_manifests(path, text)))
    };
    let checked = || snapshot.map_or(Ok(()), |(s, c)| s.check(c));
    let (rendered, checked) = match parsed {
        Ok(p) => p.execute(&values, &opts.release, &opts.capabilities, each, checked),
        Err(e) => (Err(e), checked()),
    };
    checked?;
    let (rendered, split) = rendered?;
    let mut split: Vec<_> = split.into_iter().flatten().collect();
    split.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((processed, rendered, split.into_iter().map(|(_, m)| m).collect()))
}

/// Everything `helm template` does after loading: dependencies, values, schema,
/// rendering, sorting and printing. Returns the text it prints.
pub fn template(chart: &Chart, opts: &TemplateOptions) -> Result<String, Error> {
    let Split { chart: processed, generic, hooks, .. } = render_split(chart, opts)?;
    let mut out = String::new();
    if opts.include_crds {
        crds(&processed, processed.name(), &mut out);
    }
    for m in generic.iter().chain(
        hooks
            .iter()
            .filter(|h| !(opts.skip_tests && is_test_hook(h))),
    ) {
        out.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.content));
    }
    if opts.show_only.is_empty() {
        return Ok(out);
    }
    show_only(&out, processed.name(), &opts.show_only)
}

/// Keeps the manifests whose template path (without the chart name) matches each
/// pattern, in pattern order, as `--show-only` does.
fn show_only(all: &str, chart: &str, patterns: &[String]) -> Result<String, Error> {
    let docs = split_documents(all);
    let mut out = String::new();
    for p in patterns {
        let p = p.replace('\\', "/");
        let mut found = false;
        for d in &docs {
            let Some(source) = d.lines().next().and_then(|l| l.strip_prefix("# Source: ")) else {
                continue;
            };
            let rel = source
                .strip_prefix(chart)
                .and_then(|s| s.strip_prefix('/'))
                .unwrap_or(source);
            if crate::glob::matches(&p, rel) {
                out.push_str(&format!("---\n{d}\n"));
                found = true;
            }
        }
        if !found {
            return Err(Error::NoSuchTemplate(p));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_helm() {
        assert_eq!(
            split_documents("a: 1\n---\nb: 2\n--- \n---\nc: 3\n"),
            vec!["a: 1", "b: 2", "---\nc: 3"],
            "the space after --- swallows the next newline, as in Helm"
        );
        assert_eq!(
            split_documents("a: 1\n---\n\n---\nb: 2\n---\n"),
            vec!["a: 1", "---\nb: 2"]
        );
        assert_eq!(
            split_documents("---\n# only a comment\n"),
            vec!["# only a comment"]
        );
        assert!(split_documents("  \n").is_empty());
        assert_eq!(split_documents("a \t\n---x\n---\n"), vec!["a", "x"]);
        assert_eq!(split_documents("a: \"---\"\nb: c---d"), vec!["a: \"---\"\nb: c---d"]);
    }

    #[test]
    fn install_order_then_file_order() {
        let m = |s: &str, k: &str| Manifest {
            source: s.into(),
            content: String::new(),
            kind: k.into(),
            hook: None,
        };
        let mut v = vec![
            m("a", "Deployment"),
            m("b", "Foo"),
            m("c", "Service"),
            m("d", "Bar"),
            m("e", "Service"),
            m("f", "Namespace"),
        ];
        sort_by_kind(&mut v);
        let order: Vec<&str> = v.iter().map(|x| x.source.as_str()).collect();
        assert_eq!(order, vec!["f", "c", "e", "a", "d", "b"]);
    }
}
