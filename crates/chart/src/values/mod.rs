//! Values: what the user gives (`-f` and the `--set` family), how dependencies are
//! enabled and imported ([`deps`]), and how everything is coalesced ([`coalesce`]).
//!
//! Precedence, lowest first: a chart's `values.yaml` < its parent's values under
//! the subchart's key < `-f` files (in order) < `--set-json` < `--set` <
//! `--set-string` < `--set-file` < `--set-literal`.

pub mod coalesce;
pub mod deps;
pub mod set;

use std::path::PathBuf;

use tug_gotemplate::{Map, Value};

use crate::Error;

pub use coalesce::{coalesce, coalesce_tables};

/// Values given on the command line.
#[derive(Clone, Debug, Default)]
pub struct UserValues {
    pub files: Vec<PathBuf>,
    pub set: Vec<String>,
    pub set_string: Vec<String>,
    pub set_file: Vec<String>,
    pub set_json: Vec<String>,
    pub set_literal: Vec<String>,
}

impl UserValues {
    /// Reads the files and parses the flags into one map.
    pub fn merge(&self) -> Result<Value, Error> {
        let base = Map::new();
        for path in &self.files {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
                path: path.display().to_string(),
                source: e,
            })?;
            let v = tug_gotemplate::funcs::yaml::from_yaml(&text).map_err(|msg| {
                Error::Values(format!("failed to parse {}: {msg}", path.display()))
            })?;
            match v {
                Value::Map(m) => merge_maps(&base, &m),
                Value::Nil | Value::Missing => {}
                _ => {
                    return Err(Error::Values(format!(
                        "failed to parse {}: values must be a map",
                        path.display()
                    )))
                }
            }
        }
        let read =
            |p: &str| std::fs::read_to_string(p).map_err(|e| format!("failed to read {p}: {e}"));
        let flags: [(&Vec<String>, set::Mode, &str); 5] = [
            (&self.set_json, set::Mode::Json, "--set-json"),
            (&self.set, set::Mode::Typed, "--set"),
            (&self.set_string, set::Mode::String, "--set-string"),
            (&self.set_file, set::Mode::File(&read), "--set-file"),
            (&self.set_literal, set::Mode::Literal, "--set-literal"),
        ];
        for (args, mode, flag) in flags {
            for a in args {
                set::parse_into(a, &base, &mode)
                    .map_err(|e| Error::Values(format!("failed parsing {flag} data: {e}")))?;
            }
        }
        Ok(Value::Map(base))
    }
}

/// Merges `src` into `dest`, `src` winning; maps merge key by key.
pub fn merge_maps(dest: &Map, src: &Map) {
    for (k, v) in src.entries() {
        match (dest.get(&k), &v) {
            (Some(Value::Map(d)), Value::Map(s)) => merge_maps(&d, s),
            _ => dest.insert(k, v.deep_copy()),
        }
    }
}

/// The value at a dotted path (`a.b.c`) of a map, if every step is a map.
pub fn path_value(root: &Value, path: &str) -> Option<Value> {
    let mut cur = root.clone();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur {
            Value::Map(m) => m.get(part)?,
            _ => return None,
        };
    }
    Some(cur)
}
