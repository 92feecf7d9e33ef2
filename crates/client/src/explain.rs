//! `explain TYPE.field.path`: the field's schema from the served `/openapi/v3` document,
//! laid out as kubectl's explain does (kind, version, field, description, sub-fields).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::session::Session;

fn resolve<'a>(schemas: &'a Value, mut s: &'a Value) -> &'a Value {
    for _ in 0..8 {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            match schemas.get(r.rsplit('/').next().unwrap_or("")) {
                Some(x) => s = x,
                None => break,
            }
        } else if let Some(first) = s
            .get("allOf")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            s = first;
        } else {
            break;
        }
    }
    s
}

/// The type name kubectl shows: `<string>`, `<[]Container>`, `<map[string]string>`, `<Object>`.
fn type_name(schemas: &Value, raw: &Value) -> String {
    let target = raw
        .get("$ref")
        .or_else(|| {
            raw.get("allOf")
                .and_then(|a| a.get(0))
                .and_then(|f| f.get("$ref"))
        })
        .and_then(Value::as_str);
    if let Some(r) = target {
        let def = r.rsplit('/').next().unwrap_or("");
        let resolved = schemas.get(def).unwrap_or(&Value::Null);
        if resolved.get("properties").is_none() {
            if let Some(t) = resolved.get("type").and_then(Value::as_str) {
                return t.to_string();
            }
            return if def.ends_with("IntOrString") {
                "IntOrString".into()
            } else if def.ends_with("Quantity") {
                "Quantity".into()
            } else {
                "Object".into()
            };
        }
        return def.rsplit('.').next().unwrap_or(def).to_string();
    }
    match raw.get("type").and_then(Value::as_str) {
        Some("array") => format!(
            "[]{}",
            type_name(schemas, raw.get("items").unwrap_or(&Value::Null))
        ),
        Some("object") => match raw.get("additionalProperties") {
            Some(a) if a.is_object() => format!("map[string]{}", type_name(schemas, a)),
            _ => "Object".into(),
        },
        Some(t) => t.to_string(),
        None => "Object".into(),
    }
}

/// Word-wraps each line of `text` to `width` columns after an `indent`, keeping runs of
/// spaces and leading indentation as they are (a word that would pass the limit starts a
/// new, unindented line).
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let lim = width - indent;
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for para in text.split('\n') {
        let mut line = String::new();
        let mut spaces = String::new();
        let mut word = String::new();
        let flush_word =
            |line: &mut String, spaces: &mut String, word: &mut String, out: &mut String| {
                if word.is_empty() {
                    return;
                }
                if !line.is_empty()
                    && line.chars().count() + spaces.chars().count() + word.chars().count() > lim
                {
                    out.push_str(&format!("{pad}{line}\n"));
                    line.clear();
                    spaces.clear();
                }
                line.push_str(spaces);
                line.push_str(word);
                spaces.clear();
                word.clear();
            };
        for c in para.chars() {
            if c == ' ' {
                flush_word(&mut line, &mut spaces, &mut word, &mut out);
                spaces.push(c);
            } else {
                word.push(c);
            }
        }
        flush_word(&mut line, &mut spaces, &mut word, &mut out);
        out.push_str(&format!("{pad}{line}\n"));
    }
    out
}

impl Session {
    pub async fn explain(&mut self, path: &str, api_version: Option<&str>) -> Result<String> {
        let mut parts = path.split('.');
        let type_arg = parts.next().unwrap_or("");
        let fields: Vec<&str> = parts.collect();
        let mut ri = self.resolver.resolve(type_arg).await?;
        if let Some(av) = api_version {
            let (g, v) = av.split_once('/').unwrap_or(("", av));
            ri.group = g.to_string();
            ri.version = v.to_string();
        }
        let doc_path = if ri.group.is_empty() {
            format!("/openapi/v3/api/{}", ri.version)
        } else {
            format!("/openapi/v3/apis/{}/{}", ri.group, ri.version)
        };
        let doc = self.conn.get_path(&doc_path).await?;
        let schemas = doc
            .pointer("/components/schemas")
            .cloned()
            .unwrap_or(Value::Null);
        let kind_schema = schemas
            .as_object()
            .and_then(|m| {
                m.values().find(|s| {
                    s.get("x-kubernetes-group-version-kind")
                        .and_then(Value::as_array)
                        .is_some_and(|g| {
                            g.iter().any(|g| {
                                g["group"].as_str().unwrap_or("") == ri.group
                                    && g["version"] == ri.version.as_str()
                                    && g["kind"] == ri.kind.as_str()
                            })
                        })
                })
            })
            .ok_or_else(|| {
                Error::client(format!(
                    "couldn't find resource for \"{}\"",
                    ri.api_version() + ", Kind=" + &ri.kind
                ))
            })?;
        let mut schema = kind_schema;
        let mut raw = kind_schema;
        for f in &fields {
            let r = resolve(&schemas, schema);
            let next = r
                .get("properties")
                .and_then(|p| p.get(*f))
                .or_else(|| {
                    r.get("items")
                        .map(|i| resolve(&schemas, i))
                        .and_then(|i| i.get("properties"))
                        .and_then(|p| p.get(*f))
                })
                .ok_or_else(|| Error::client(format!("field \"{f}\" does not exist")))?;
            raw = next;
            schema = next;
            if let Some(items) = resolve(&schemas, schema).get("items") {
                if resolve(&schemas, items).get("properties").is_some() {
                    schema = items;
                }
            }
        }
        let mut out = String::new();
        if !ri.group.is_empty() {
            out.push_str(&format!("GROUP:      {}\n", ri.group));
        }
        out.push_str(&format!(
            "KIND:       {}\nVERSION:    {}\n\n",
            ri.kind, ri.version
        ));
        if let Some(last) = fields.last() {
            out.push_str(&format!(
                "FIELD: {last} <{}>\n\n\n",
                type_name(&schemas, raw)
            ));
        }
        let r = resolve(&schemas, schema);
        // A field shows its own description, then its type's.
        let mut descs: Vec<&str> = Vec::new();
        if !fields.is_empty() {
            descs.extend(raw.get("description").and_then(Value::as_str));
        }
        descs.extend(
            r.get("description")
                .and_then(Value::as_str)
                .filter(|d| !descs.contains(d)),
        );
        out.push_str("DESCRIPTION:\n");
        if descs.is_empty() {
            out.push_str("    <empty>\n");
        }
        for d in descs {
            out.push_str(&wrap(d, 4, 80));
        }
        if let Some(props) = r.get("properties").and_then(Value::as_object) {
            let required: Vec<&str> = r
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            out.push_str("    \nFIELDS:\n");
            let mut keys: Vec<&String> = props.keys().collect();
            keys.sort();
            for k in keys {
                let p = &props[k.as_str()];
                let req = if required.contains(&k.as_str()) {
                    " -required-"
                } else {
                    ""
                };
                out.push_str(&format!("  {k}\t<{}>{req}\n", type_name(&schemas, p)));
                if let Some(e) = p.get("enum").and_then(Value::as_array) {
                    out.push_str(&format!(
                        "  enum: {}\n",
                        e.iter()
                            .map(|v| v
                                .as_str()
                                .map(String::from)
                                .unwrap_or_else(|| v.to_string()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                let d = p
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("<no description>");
                out.push_str(&wrap(d, 4, 80));
                out.push('\n');
            }
            out.push('\n');
        }
        Ok(out)
    }
}
