//! Output: server-side Tables as kubectl lays them out, `-o yaml|json|name|wide|jsonpath=…`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::jsonpath::Template;
use crate::resources::ResourceInfo;

/// What `-o` asked for.
#[derive(Debug, Clone)]
pub enum Output {
    Table,
    Wide,
    Yaml,
    Json,
    Name,
    JsonPath(Template),
}

impl Output {
    pub fn parse(s: Option<&str>) -> Result<Output> {
        let Some(s) = s else { return Ok(Output::Table) };
        Ok(match s {
            "" => Output::Table,
            "wide" => Output::Wide,
            "yaml" => Output::Yaml,
            "json" => Output::Json,
            "name" => Output::Name,
            _ => {
                if let Some(t) = s
                    .strip_prefix("jsonpath=")
                    .or_else(|| s.strip_prefix("jsonpath-as-json="))
                {
                    Output::JsonPath(Template::parse(t)?)
                } else if let Some(path) = s.strip_prefix("jsonpath-file=") {
                    let t = std::fs::read_to_string(path)
                        .map_err(|e| Error::client(format!("error reading {path}: {e}")))?;
                    Output::JsonPath(Template::parse(t.trim_end_matches('\n'))?)
                } else {
                    return Err(Error::client(format!(
                        "unable to match a printer suitable for the output format \"{s}\", allowed formats are: json,jsonpath,jsonpath-file,name,wide,yaml"
                    )));
                }
            }
        })
    }

    pub fn is_table(&self) -> bool {
        matches!(self, Output::Table | Output::Wide)
    }
}

/// Key order as Go's encoders write maps: sorted, recursively.
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let b: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(
                b.into_iter()
                    .map(|(k, v)| (k.clone(), v))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

pub fn to_yaml(v: &Value) -> String {
    crate::yaml::document(v)
}

/// JSON as kubectl prints it: four-space indent, sorted keys, a final newline.
pub fn to_json(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(&sorted(v), &mut ser).expect("JSON values serialize");
    let mut s = String::from_utf8(buf).unwrap_or_default();
    s.push('\n');
    s
}

/// A list of objects as kubectl wraps them for `-o yaml|json|jsonpath`.
pub fn as_list(items: Vec<Value>) -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}})
}

/// Fills in `apiVersion`/`kind` on a list item, which servers leave out.
pub fn with_type(ri: &ResourceInfo, mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.entry("apiVersion")
            .or_insert_with(|| Value::String(ri.api_version()));
        m.entry("kind")
            .or_insert_with(|| Value::String(ri.kind.clone()));
    }
    obj
}

/// `-o name`: `deployment.apps/web`.
pub fn name_of(ri: &ResourceInfo, obj: &Value) -> String {
    format!(
        "{}/{}",
        ri.kind_group(),
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    )
}

/// Prints objects (one, or a list when `single` is false) in a non-table format.
pub fn print_objects(out: &Output, ri: &ResourceInfo, objs: Vec<Value>, single: bool) -> String {
    let objs: Vec<Value> = objs.into_iter().map(|o| with_type(ri, o)).collect();
    let data = if single && objs.len() == 1 {
        objs[0].clone()
    } else {
        as_list(objs.clone())
    };
    match out {
        Output::Yaml => to_yaml(&data),
        Output::Json => to_json(&data),
        Output::Name => objs.iter().map(|o| name_of(ri, o) + "\n").collect(),
        Output::JsonPath(t) => t.render(&data),
        Output::Table | Output::Wide => String::new(),
    }
}

/// Table layout options.
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    pub wide: bool,
    pub no_headers: bool,
    /// Prefix a NAMESPACE column (`-A`).
    pub with_namespace: bool,
    /// Prefix names with `kind.group/` (several types, or `--show-kind`).
    pub kind_prefix: Option<String>,
    pub show_labels: bool,
    /// `-L key`: one column per label key.
    pub label_columns: Vec<String>,
}

/// The cells of a meta.k8s.io Table (header first unless `no_headers`), as text.
pub fn table_rows(table: &Value, opts: &TableOptions) -> Vec<Vec<String>> {
    let cols: Vec<&Value> = table["columnDefinitions"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let shown: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| opts.wide || c["priority"].as_i64().unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let mut rows = Vec::new();
    if !opts.no_headers {
        let mut h = Vec::new();
        if opts.with_namespace {
            h.push("NAMESPACE".to_string());
        }
        h.extend(
            shown
                .iter()
                .map(|&i| cols[i]["name"].as_str().unwrap_or("").to_uppercase()),
        );
        h.extend(
            opts.label_columns
                .iter()
                .map(|l| l.rsplit('/').next().unwrap_or(l).to_uppercase()),
        );
        if opts.show_labels {
            h.push("LABELS".into());
        }
        rows.push(h);
    }
    for row in table["rows"].as_array().into_iter().flatten() {
        let cells = row["cells"].as_array().cloned().unwrap_or_default();
        let meta = row["object"]
            .get("metadata")
            .cloned()
            .unwrap_or(Value::Null);
        let mut r = Vec::new();
        if opts.with_namespace {
            r.push(meta["namespace"].as_str().unwrap_or("").to_string());
        }
        for &i in &shown {
            let mut c = cell(cells.get(i).unwrap_or(&Value::Null));
            if i == 0 {
                if let Some(k) = &opts.kind_prefix {
                    c = format!("{k}/{c}");
                }
            }
            r.push(c);
        }
        let labels = meta["labels"].as_object().cloned().unwrap_or_default();
        for l in &opts.label_columns {
            r.push(
                labels
                    .get(l)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            );
        }
        if opts.show_labels {
            let mut kv: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            kv.sort();
            r.push(if kv.is_empty() {
                "<none>".into()
            } else {
                kv.join(",")
            });
        }
        rows.push(r);
    }
    rows
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// Aligns rows like kubectl's tabwriter (minimum cell width 6, padding 3); the last
/// column is not padded.
pub fn align(rows: &[Vec<String>]) -> String {
    align_with(rows, &mut Vec::new())
}

/// [`align`] keeping column widths across calls (`get -w` prints rows as they come,
/// under the header of the first list).
pub fn align_with(rows: &[Vec<String>], widths: &mut Vec<usize>) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    if widths.len() < ncols {
        widths.resize(ncols, 0);
    }
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max(c.chars().count() + 3).max(6);
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// A Table as text.
pub fn print_table(table: &Value, opts: &TableOptions) -> String {
    align(&table_rows(table, opts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_like_kubectl() {
        let t = json!({"columnDefinitions": [{"name": "Name", "priority": 0}, {"name": "Data", "priority": 0}, {"name": "Extra", "priority": 1}, {"name": "Age", "priority": 0}],
            "rows": [{"cells": ["kube-root-ca.crt", 1, "x", "5m"], "object": {"metadata": {"namespace": "default", "labels": {"b": "2", "a": "1"}}}}]});
        assert_eq!(
            print_table(&t, &TableOptions::default()),
            "NAME               DATA   AGE\nkube-root-ca.crt   1      5m\n"
        );
        let wide = print_table(
            &t,
            &TableOptions {
                wide: true,
                with_namespace: true,
                show_labels: true,
                ..Default::default()
            },
        );
        assert_eq!(wide, "NAMESPACE   NAME               DATA   EXTRA   AGE   LABELS\ndefault     kube-root-ca.crt   1      x       5m    a=1,b=2\n");
    }

    #[test]
    fn json_is_sorted_and_indented() {
        assert_eq!(
            to_json(&json!({"b": 1, "a": [true]})),
            "{\n    \"a\": [\n        true\n    ],\n    \"b\": 1\n}\n"
        );
    }
}
