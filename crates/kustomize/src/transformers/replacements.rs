//! `replacements`: copy a field of one resource into fields of others,
//! optionally one part of a delimited string.
//!
//! Field paths are dotted: `spec.template.spec.containers.[name=web].image`,
//! with `[key=value]` choosing a list element, a number indexing a list and
//! `*` every element.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{KustomizeError, Result};
use crate::resource::Resource;
use crate::target::Selector;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub index: i64,
    #[serde(default)]
    pub create: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    #[serde(flatten)]
    pub selector: Selector,
    #[serde(default)]
    pub field_path: String,
    #[serde(default)]
    pub options: Option<Options>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    #[serde(default)]
    pub select: Selector,
    #[serde(default)]
    pub reject: Vec<Selector>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    #[serde(default)]
    pub options: Option<Options>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Replacement {
    pub source: Source,
    #[serde(default)]
    pub targets: Vec<Target>,
}

/// Splits a dotted field path; dots inside `[...]` do not split.
pub fn split_field_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

fn list_selector(seg: &str) -> Option<(&str, &str)> {
    seg.strip_prefix('[')?.strip_suffix(']')?.split_once('=')
}

fn matches_kv(item: &Value, key: &str, val: &str) -> bool {
    match item.get(key) {
        Some(Value::String(s)) => s == val,
        Some(other) => *other == *val,
        None => false,
    }
}

/// The value at a field path, if there is one.
pub fn get_path<'a>(v: &'a Value, segs: &[String]) -> Option<&'a Value> {
    let Some((first, rest)) = segs.split_first() else {
        return Some(v);
    };
    let next = match v {
        Value::Array(items) => {
            if let Some((k, val)) = list_selector(first) {
                items.iter().find(|i| matches_kv(i, k, val))?
            } else {
                items.get(first.parse::<usize>().ok()?)?
            }
        }
        Value::Object(m) => {
            let key = first.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(first);
            m.get(key)?
        }
        _ => return None,
    };
    get_path(next, rest)
}

/// Calls `f` on every value at a field path, creating maps on the way if asked.
fn set_path(v: &mut Value, segs: &[String], create: bool, f: &mut dyn FnMut(&mut Value)) {
    let Some((first, rest)) = segs.split_first() else {
        f(v);
        return;
    };
    match v {
        Value::Array(items) => {
            if first == "*" {
                items.iter_mut().for_each(|i| set_path(i, rest, create, f));
            } else if let Some((k, val)) = list_selector(first) {
                for i in items.iter_mut().filter(|i| matches_kv(i, k, val)) {
                    set_path(i, rest, create, f);
                }
            } else if let Some(i) = first.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                set_path(i, rest, create, f);
            }
        }
        Value::Object(m) => {
            let key = first.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(first);
            if let Some(child) = m.get_mut(key) {
                set_path(child, rest, create, f);
            } else if create {
                let mut child = if rest.is_empty() { Value::Null } else { Value::Object(Map::new()) };
                set_path(&mut child, rest, create, f);
                m.insert(key.to_string(), child);
            }
        }
        Value::Null if create => {
            *v = Value::Object(Map::new());
            set_path(v, segs, create, f);
        }
        _ => {}
    }
}

fn delimited_part(s: &str, opts: &Options) -> String {
    let parts: Vec<&str> = s.split(opts.delimiter.as_str()).collect();
    usize::try_from(opts.index)
        .ok()
        .and_then(|i| parts.get(i))
        .map(|p| p.to_string())
        .unwrap_or_default()
}

fn replace_part(current: &Value, value: &Value, opts: &Options) -> Value {
    let cur = current.as_str().unwrap_or("");
    let new = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut parts: Vec<String> = cur.split(opts.delimiter.as_str()).map(String::from).collect();
    match usize::try_from(opts.index) {
        Ok(i) if i < parts.len() => parts[i] = new,
        Ok(_) => parts.push(new),
        Err(_) => parts.insert(0, new),
    }
    Value::String(parts.join(&opts.delimiter))
}

/// Applies one replacement.
pub fn apply(resources: &mut [Resource], rep: &Replacement, file: &std::path::Path) -> Result<()> {
    let selected = |sel: &Selector, r: &Resource| sel.matches(r).map_err(|m| KustomizeError::invalid(file, m));
    let mut sources = Vec::new();
    for r in resources.iter() {
        if selected(&rep.source.selector, r)? {
            sources.push(r);
        }
    }
    let source = match sources.as_slice() {
        [one] => *one,
        [] => {
            return Err(KustomizeError::invalid(
                file,
                format!("replacement source {} matches no resource", rep.source.selector.describe()),
            ))
        }
        _ => {
            return Err(KustomizeError::invalid(
                file,
                format!("replacement source {} matches more than one resource", rep.source.selector.describe()),
            ))
        }
    };
    let path = if rep.source.field_path.is_empty() { "metadata.name" } else { rep.source.field_path.as_str() };
    let mut value = get_path(&source.obj, &split_field_path(path)).cloned().ok_or_else(|| {
        KustomizeError::invalid(file, format!("replacement source {} has no field {path}", source.describe()))
    })?;
    if let Some(o) = rep.source.options.as_ref().filter(|o| !o.delimiter.is_empty()) {
        value = Value::String(delimited_part(value.as_str().unwrap_or(""), o));
    }
    for target in &rep.targets {
        let opts = target.options.clone().unwrap_or_default();
        for res in resources.iter_mut() {
            if !selected(&target.select, res)? {
                continue;
            }
            let mut rejected = false;
            for rej in &target.reject {
                if selected(rej, res)? {
                    rejected = true;
                }
            }
            if rejected {
                continue;
            }
            for fp in &target.field_paths {
                set_path(&mut res.obj, &split_field_path(fp), opts.create, &mut |slot| {
                    *slot = if opts.delimiter.is_empty() { value.clone() } else { replace_part(slot, &value, &opts) };
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_paths_select_list_elements_by_key() {
        let v = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let segs = split_field_path("spec.containers.[name=b].image");
        assert_eq!(get_path(&v, &segs), Some(&json!("y")));
        assert_eq!(split_field_path("metadata.annotations.[a.b/c]"), vec!["metadata", "annotations", "[a.b/c]"]);
    }

    #[test]
    fn delimited_parts_are_replaced_in_place() {
        let opts = Options { delimiter: ":".into(), index: 1, create: false };
        assert_eq!(replace_part(&json!("img:1"), &json!("2"), &opts), json!("img:2"));
        assert_eq!(delimited_part("a-b-c", &Options { delimiter: "-".into(), index: 2, create: false }), "c");
    }
}
