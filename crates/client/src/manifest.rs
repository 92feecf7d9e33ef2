//! Reading manifests for `-f`: files (YAML streams or JSON), directories (their
//! `.yaml`, `.yml` and `.json` files, sorted; recursively with `-R`) and `-` (stdin).
//! `kind: List` objects are flattened into their items.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// One object and the source it came from (for messages like kubectl's
/// `error when creating "deploy.yaml": ...`).
#[derive(Debug, Clone)]
pub struct SourcedObject {
    pub source: String,
    pub object: Value,
}

/// Parses a YAML or JSON stream into its non-empty documents.
pub fn parse(text: &str, source: &str) -> Result<Vec<Value>> {
    let mut opts = serde_saphyr::Options::default();
    opts.legacy_octal_numbers = true;
    let docs: Vec<Value> = serde_saphyr::from_str_multiple_with_options(text, opts)
        .map_err(|e| Error::client(format!("error parsing {source}: {e}")))?;
    let mut out = Vec::new();
    for d in docs.into_iter().filter(|d| !d.is_null()) {
        flatten(d, &mut out);
    }
    Ok(out)
}

fn flatten(v: Value, out: &mut Vec<Value>) {
    let is_list = v
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && v.get("items").is_some_and(Value::is_array);
    if is_list {
        if let Some(Value::Array(items)) = v.get("items").cloned() {
            for i in items {
                flatten(i, out);
            }
        }
    } else {
        out.push(v);
    }
}

/// Reads every `-f` argument.
pub fn read(filenames: &[PathBuf], recursive: bool) -> Result<Vec<SourcedObject>> {
    let mut out = Vec::new();
    for f in filenames {
        if f.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            out.extend(
                parse(&text, "STDIN")?
                    .into_iter()
                    .map(|object| SourcedObject {
                        source: "STDIN".into(),
                        object,
                    }),
            );
            continue;
        }
        let mut files = Vec::new();
        collect(f, recursive, true, &mut files)?;
        for path in files {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::client(format!("error reading {}: {e}", path.display())))?;
            let source = path.display().to_string();
            out.extend(
                parse(&text, &source)?
                    .into_iter()
                    .map(|object| SourcedObject {
                        source: source.clone(),
                        object,
                    }),
            );
        }
    }
    if out.is_empty() {
        return Err(Error::client("no objects passed to apply"));
    }
    Ok(out)
}

fn collect(path: &Path, recursive: bool, top: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path)
        .map_err(|_| Error::client(format!("the path \"{}\" does not exist", path.display())))?;
    if meta.is_dir() {
        if !top && !recursive {
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                collect(&e, recursive, false, out)?;
            } else if matches!(
                e.extension().and_then(|x| x.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push(e);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Builds a kustomization (`-k DIR`) into objects.
pub fn kustomize(dir: &Path) -> Result<Vec<SourcedObject>> {
    let objs = tug_kustomize::build(dir, &tug_kustomize::BuildOptions::default())
        .map_err(|e| Error::client(e.to_string()))?;
    let source = dir.display().to_string();
    Ok(objs
        .into_iter()
        .map(|object| SourcedObject {
            source: source.clone(),
            object,
        })
        .collect())
}
