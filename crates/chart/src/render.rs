//! Rendering every template of a chart and its subcharts, as Helm's engine does:
//! one template set for all charts (so `include` reaches any `define`), each file
//! executed with its own chart's `.Values`, `.Chart`, `.Files` and `.Template`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tug_gotemplate::{Fence, Funcs, Kind, Map, MissingKey, Template, Value};

use crate::capabilities::Capabilities;
use crate::files::Files;
use crate::loader::Chart;
use crate::Error;

/// The release a chart renders for (`.Release`).
#[derive(Clone, Debug)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub revision: i64,
    pub is_install: bool,
    pub is_upgrade: bool,
}

impl Default for Release {
    fn default() -> Release {
        Release {
            name: "release-name".into(),
            namespace: "default".into(),
            revision: 1,
            is_install: true,
            is_upgrade: false,
        }
    }
}

impl Release {
    fn to_value(&self) -> Value {
        let m = Map::new();
        m.insert("Name", Value::str(&self.name));
        m.insert("Namespace", Value::str(&self.namespace));
        m.insert("Revision", Value::Int(self.revision));
        m.insert("IsInstall", Value::Bool(self.is_install));
        m.insert("IsUpgrade", Value::Bool(self.is_upgrade));
        m.insert("Service", Value::str("Helm"));
        Value::Map(m)
    }
}

/// Answers Helm's `lookup apiVersion kind namespace name` from a cluster: the object, the
/// list when `name` is empty, an empty map when there is none; an error stops rendering.
/// Without one, as for `helm template`, `lookup` gives an empty map.
#[derive(Clone)]
pub struct Lookup(pub Arc<dyn Fn(&str, &str, &str, &str) -> Result<Value, String> + Send + Sync>);

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lookup")
    }
}

/// Helm's functions, with `lookup` answered by `lookup` when there is one.
fn functions(lookup: Option<&Lookup>) -> Funcs {
    let mut funcs = Funcs::helm();
    if let Some(Lookup(find)) = lookup {
        let find = find.clone();
        funcs.pure("lookup", &[Kind::Str; 4], None, move |a| {
            let arg = |i: usize| a[i].as_str().unwrap_or("");
            find(arg(0), arg(1), arg(2), arg(3))
        });
    }
    funcs
}

/// Rendered templates by path (`chart/templates/x.yaml`, `chart/charts/sub/templates/y.yaml`),
/// NOTES.txt files included; partials (`_*.tpl`) are not rendered.
pub type Rendered = BTreeMap<String, String>;

/// One template file of the chart or a subchart.
struct Source<'c> {
    /// `chart/charts/sub/templates/x.yaml`
    name: String,
    text: std::borrow::Cow<'c, str>,
    /// The path of the chart it belongs to (`chart/charts/sub`), which keys its context.
    chart_path: String,
    partial: bool,
}

/// Lists the templates of a chart and its subcharts (a library chart's partials only).
fn sources<'c>(chart: &'c Chart, full_path: &str, out: &mut Vec<Source<'c>>) {
    for sub in &chart.dependencies {
        sources(sub, &format!("{full_path}/charts/{}", sub.name()), out);
    }
    for t in &chart.templates {
        let partial = t
            .name
            .rsplit('/')
            .next()
            .is_some_and(|b| b.starts_with('_'));
        if chart.metadata.is_library() && !partial {
            continue;
        }
        out.push(Source {
            name: format!("{full_path}/{}", t.name),
            text: crate::loader::utf8(&t.data),
            chart_path: full_path.to_string(),
            partial,
        });
    }
}

/// Builds the context (`.Chart`, `.Values`, `.Subcharts`, …) of a chart and of each of
/// its subcharts, keyed by chart path; returns the chart's own.
fn contexts(
    chart: &Chart,
    values: Value,
    full_path: &str,
    is_root: bool,
    top: &Map,
    out: &mut BTreeMap<String, Map>,
) -> Map {
    let ctx = Map::new();
    ctx.insert("Chart", chart.metadata.to_template_value(is_root));
    ctx.insert("Files", Value::Object(Arc::new(Files::new(&chart.files))));
    ctx.insert("Release", top.get("Release").unwrap_or(Value::Nil));
    ctx.insert(
        "Capabilities",
        top.get("Capabilities").unwrap_or(Value::Nil),
    );
    ctx.insert("Values", values.clone());
    let subcharts = Map::new();
    for sub in &chart.dependencies {
        let sub_values = match &values {
            Value::Map(m) => match m.get(sub.name()) {
                Some(v @ Value::Map(_)) => v,
                _ => Value::empty_map(),
            },
            _ => Value::empty_map(),
        };
        let path = format!("{full_path}/charts/{}", sub.name());
        let sub_ctx = contexts(sub, sub_values, &path, false, top, out);
        subcharts.insert(sub.name(), Value::Map(sub_ctx));
    }
    ctx.insert("Subcharts", Value::Map(subcharts));
    out.insert(full_path.to_string(), ctx.clone());
    ctx
}

/// Helm's order: deeper paths first, and among equals reverse lexical order. Later
/// parses win for `define`s, so a parent's definitions override its subcharts'.
fn helm_order(sources: &mut [Source<'_>]) {
    sources.sort_by(|a, b| {
        let (ca, cb) = (a.name.matches('/').count(), b.name.matches('/').count());
        cb.cmp(&ca).then_with(|| b.name.cmp(&a.name))
    });
}

/// A chart's templates parsed into one set, ready to run with values.
pub struct Parsed<'c> {
    chart: &'c Chart,
    set: Template,
    /// In Helm's order.
    sources: Vec<Source<'c>>,
}

/// Parses every template of a chart (already processed by [`crate::values::deps::process`])
/// while this thread runs `alongside` (coalescing and checking values, which parsing
/// does not need); the templates are shared out between this thread and one more.
/// The first error in Helm's order is the one reported.
pub fn parse_alongside<'c, A>(
    chart: &'c Chart,
    lookup: Option<&Lookup>,
    alongside: impl FnOnce() -> A,
) -> (Result<Parsed<'c>, Error>, A) {
    let mut list = Vec::new();
    sources(chart, chart.name(), &mut list);
    helm_order(&mut list);
    let set = Template::with_funcs("gotpl", functions(lookup)).missing_key(MissingKey::Zero);
    let (parsed, other) = crate::parallel::map_alongside(
        &list,
        |src| src.text.len(),
        |src| set.parse_only(&src.name, &src.text),
        alongside,
    );
    // Added to the set itself, not a copy, so its trees stay in the shared part that
    // every `tpl` clone borrows instead of copying.
    let parsed = parsed.into_iter().try_fold(set, |mut set, p| {
        set.add(p.map_err(parse_error)?);
        Ok(set)
    });
    let parsed = parsed.map(|set| Parsed {
        chart,
        set,
        sources: list,
    });
    (parsed, other)
}

impl Parsed<'_> {
    /// Runs every template but the partials (NOTES.txt included) with its own chart's
    /// context and the final coalesced values, as Helm does, while this thread first
    /// runs `alongside`. `each` sees every file as soon as it is rendered; its results
    /// come back in Helm's order, beside the rendered files.
    ///
    /// Helm runs the templates one after another, in its order, and a template may
    /// change the values later ones see (Sprig's `set` on `.Values`). Here they first
    /// run on two threads behind a [`Fence`], which drops and reports such changes;
    /// when one was dropped, they all run again one after another.
    pub fn execute<T: Send, A>(
        &self,
        values: &Value,
        release: &Release,
        caps: &Capabilities,
        each: impl Fn(&str, &str) -> T + Sync,
        alongside: impl FnOnce() -> A,
    ) -> (Result<(Rendered, Vec<T>), Error>, A) {
        let top = Map::new();
        top.insert("Release", release.to_value());
        top.insert("Capabilities", caps.to_value());
        let mut ctxs = BTreeMap::new();
        contexts(
            self.chart,
            values.clone(),
            self.chart.name(),
            true,
            &top,
            &mut ctxs,
        );
        let run = |src: &&Source| -> Result<(String, T), Error> {
            let data = Map::from_btree(ctxs[&src.chart_path].snapshot());
            let tmpl = Map::new();
            tmpl.insert("Name", Value::str(&src.name));
            tmpl.insert("BasePath", Value::str(format!("{}/templates", src.chart_path)));
            data.insert("Template", Value::Map(tmpl));
            let text = self
                .set
                .execute(&src.name, &Value::Map(data))
                .map_err(exec_error)?;
            let text = if text.contains("<no value>") {
                text.replace("<no value>", "")
            } else {
                text
            };
            let seen = each(&src.name, &text);
            Ok((text, seen))
        };
        let files: Vec<&Source> = self.sources.iter().filter(|s| !s.partial).collect();
        let fence = Fence::now();
        // Set once a template wrote shared values: the templates not yet run are then
        // not tried (`None`), as they all run again.
        let wrote = AtomicBool::new(false);
        let (tried, other) = crate::parallel::map_alongside(
            &files,
            |src| src.text.len(),
            |src| {
                if wrote.load(Ordering::Relaxed) {
                    return None;
                }
                let (result, wrote_here) = fence.run(|| run(src));
                wrote.fetch_or(wrote_here, Ordering::Relaxed);
                (!wrote_here).then_some(result)
            },
            alongside,
        );
        let results: Result<Vec<_>, Error> = match tried.into_iter().collect::<Option<Vec<_>>>() {
            Some(tried) => tried.into_iter().collect(),
            None => files.iter().map(run).collect(),
        };
        let out = results.map(|results| {
            let mut rendered = Rendered::new();
            let mut seen = Vec::with_capacity(results.len());
            for (src, (text, s)) in files.iter().zip(results) {
                rendered.insert(src.name.clone(), text);
                seen.push(s);
            }
            (rendered, seen)
        });
        (out, other)
    }
}

/// Renders all templates of a chart (already processed by [`crate::values::deps::process`])
/// with its final coalesced values.
pub fn render(
    chart: &Chart,
    values: &Value,
    release: &Release,
    caps: &Capabilities,
) -> Result<Rendered, Error> {
    let parsed = parse_alongside(chart, None, || ()).0?;
    parsed.execute(values, release, caps, |_, _| (), || ()).0.map(|(rendered, _)| rendered)
}

/// `parse error at (chart/templates/x.yaml:3): unexpected EOF`, as Helm words it.
fn parse_error(e: tug_gotemplate::Error) -> Error {
    match e {
        tug_gotemplate::Error::Parse { name, line, msg } => {
            let last = msg.rsplit(": ").next().unwrap_or(&msg).to_string();
            Error::Render(format!("parse error at ({name}:{line}): {last}"))
        }
        e => Error::Render(e.to_string()),
    }
}

/// `required` and `fail` become `execution error at (file:line:col): message`, the
/// innermost message when `tpl` nests them; other errors keep Go's wording.
fn exec_error(e: tug_gotemplate::Error) -> Error {
    let text = e.to_string();
    if let tug_gotemplate::Error::Exec { location, .. } = &e {
        for marker in ["error calling required: ", "error calling fail: "] {
            if let Some(i) = text.rfind(marker) {
                return Error::Render(format!(
                    "execution error at ({location}): {}",
                    &text[i + marker.len()..]
                ));
            }
        }
    }
    Error::Render(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{from_files, ChartFile};

    fn chart(files: &[(&str, &str)]) -> Chart {
        from_files(
            files
                .iter()
                .map(|(n, d)| ChartFile {
                    name: n.to_string(),
                    data: d.as_bytes().to_vec().into(),
                })
                .collect(),
        )
        .unwrap()
    }

    fn render_one(files: &[(&str, &str)]) -> Result<Rendered, Error> {
        let c = chart(files);
        let v = Map::new();
        crate::values::coalesce(&c, &v);
        render(
            &c,
            &Value::Map(v),
            &Release::default(),
            &Capabilities::default(),
        )
    }

    #[test]
    fn syntax_error_reports_file_and_line() {
        let err = render_one(&[
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
            ("templates/a.yaml", "line1\n{{ if }}"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "parse error at (c/templates/a.yaml:2): missing value for if"
        );
    }

    #[test]
    fn required_reports_helm_message() {
        let err = render_one(&[
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
            (
                "templates/a.yaml",
                r#"{{ required "foo is required!" .Values.foo }}"#,
            ),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "execution error at (c/templates/a.yaml:1:3): foo is required!"
        );
    }

    #[test]
    fn template_objects_are_filled() {
        let out = render_one(&[
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\nappVersion: \"2.0\"\n"),
            ("values.yaml", "x: 1\n"),
            ("templates/_h.tpl", r#"{{ define "c.n" }}{{ .Chart.Name }}-{{ .Chart.AppVersion }}{{ end }}"#),
            (
                "templates/a.yaml",
                r#"{{ include "c.n" . }} {{ .Release.Name }} {{ .Release.Service }} {{ .Template.Name }} {{ .Template.BasePath }} {{ .Capabilities.KubeVersion.Minor }} {{ .Values.x }} {{ .Values.nope }}"#,
            ),
        ])
        .unwrap();
        assert_eq!(
            out["c/templates/a.yaml"],
            "c-2.0 release-name Helm c/templates/a.yaml c/templates 33 1 "
        );
        assert!(!out.contains_key("c/templates/_h.tpl"));
    }

    #[test]
    fn a_template_changing_shared_values_is_seen_by_later_ones_in_helm_order() {
        // Helm runs z.yaml before a.yaml (names in reverse), one after another, and
        // templates share one `.Values`.
        let mut files = vec![
            ("Chart.yaml".to_string(), "apiVersion: v2\nname: c\nversion: 1.0.0\n".to_string()),
            ("values.yaml".to_string(), "x: original\n".to_string()),
            ("templates/z.yaml".to_string(), r#"{{ $_ := set .Values "x" "changed" }}z"#.to_string()),
        ];
        files.extend((0..20).map(|i| (format!("templates/a{i:02}.yaml"), format!("{{{{ .Values.x }}}} {i}"))));
        let refs: Vec<(&str, &str)> = files.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect();
        let out = render_one(&refs).unwrap();
        for i in 0..20 {
            assert_eq!(out[&format!("c/templates/a{i:02}.yaml")], format!("changed {i}"));
        }
        // Without a write, every template sees the values as they were, and a map a
        // template makes for itself is its own to change.
        let out = render_one(&[
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
            ("values.yaml", "x: original\n"),
            ("templates/z.yaml", r#"{{ $d := dict "k" 1 }}{{ $_ := set $d "k" 2 }}{{ $d.k }}"#),
            ("templates/a.yaml", "{{ .Values.x }}"),
        ])
        .unwrap();
        assert_eq!(out["c/templates/z.yaml"], "2");
        assert_eq!(out["c/templates/a.yaml"], "original");
    }
}
