//! YAML reading with the scalar rules kustomize and Kubernetes use.

use std::path::Path;

use serde_json::Value;

use crate::error::{KustomizeError, Result};

fn options() -> serde_saphyr::Options {
    let mut opts = serde_saphyr::Options::default();
    // Kubernetes reads `0644` as an octal file mode.
    opts.legacy_octal_numbers = true;
    // kustomize's YAML library follows YAML 1.2: `yes`/`on` stay strings.
    opts.strict_booleans = true;
    opts
}

/// Parses every document of a YAML stream, dropping empty (null) documents.
pub fn parse_documents(text: &str, path: &Path) -> Result<Vec<Value>> {
    let docs: Vec<Value> =
        serde_saphyr::from_str_multiple_with_options(text, options()).map_err(|e| {
            KustomizeError::Yaml {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Parses a single YAML document (an empty input gives null).
pub fn parse_document(text: &str, path: &Path) -> Result<Value> {
    let mut docs = parse_documents(text, path)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(KustomizeError::invalid(
            path,
            format!("expected one YAML document, found {n}"),
        )),
    }
}
