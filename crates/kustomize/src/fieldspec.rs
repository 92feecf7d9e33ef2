//! Field specs: "this path in resources of this kind", the way kustomize's
//! transformers say where they act. Paths are `/`-separated; a segment that
//! meets a list applies to every element (`containers[]` says so explicitly).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::resource::Resource;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct FieldSpec {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub create: bool,
}

impl FieldSpec {
    pub fn new(kind: &str, path: &str, create: bool) -> Self {
        FieldSpec {
            kind: kind.into(),
            path: path.into(),
            create,
            ..Default::default()
        }
    }

    /// Whether this spec applies to the resource's group/version/kind.
    pub fn applies_to(&self, res: &Resource) -> bool {
        (self.kind.is_empty() || self.kind == res.kind())
            && (self.group.is_empty() || self.group == res.group())
            && (self.version.is_empty() || self.version == res.version())
    }

    pub fn segments(&self) -> Vec<String> {
        split_path(&self.path)
    }
}

/// Splits a slash path, honouring `\/` as a literal slash and dropping `[]`.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim_end_matches("[]").to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Calls `f` on every value at `segs` below `v`. With `create`, missing
/// maps along the way are created and a missing last field is passed as null
/// (and kept only if `f` leaves something other than null in it).
pub fn visit(
    v: &mut Value,
    segs: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    visit_at(v, segs, create, &mut String::new(), &mut |v, _| f(v))
}

/// [`visit`], also telling `f` the JSON pointer of each value it gets.
pub fn visit_at(
    v: &mut Value,
    segs: &[String],
    create: bool,
    pointer: &mut String,
    f: &mut dyn FnMut(&mut Value, &str) -> Result<()>,
) -> Result<()> {
    if let Value::Array(items) = v {
        for (i, item) in items.iter_mut().enumerate() {
            let len = pointer.len();
            pointer.push_str(&format!("/{i}"));
            visit_at(item, segs, create, pointer, f)?;
            pointer.truncate(len);
        }
        return Ok(());
    }
    let Some((first, rest)) = segs.split_first() else {
        return f(v, pointer);
    };
    if v.is_null() && create {
        *v = Value::Object(Map::new());
    }
    let Value::Object(map) = v else {
        return Ok(());
    };
    let len = pointer.len();
    pointer.push('/');
    pointer.push_str(&first.replace('~', "~0").replace('/', "~1"));
    let result = match map.get_mut(first.as_str()) {
        Some(child) if !child.is_null() || create => visit_at(child, rest, create, pointer, f),
        Some(_) => Ok(()),
        None if create => {
            let mut child = Value::Null;
            let r = visit_at(&mut child, rest, create, pointer, f);
            if !child.is_null() {
                map.insert(first.clone(), child);
            }
            r
        }
        None => Ok(()),
    };
    pointer.truncate(len);
    result
}

/// Visits the field specs that apply to `res`.
pub fn visit_specs(
    res: &mut Resource,
    specs: &[FieldSpec],
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    for spec in specs {
        if spec.applies_to(res) {
            visit(&mut res.obj, &spec.segments(), spec.create, f)?;
        }
    }
    Ok(())
}
