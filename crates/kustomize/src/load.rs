//! Reading the files a kustomization names: resource files (multi-document,
//! `List` kinds expanded) and generator/patch inputs, with kustomize's rule
//! that such files stay inside the kustomization's directory.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::fs::{read_text, FileSystem};
use crate::resource::Resource;
use crate::BuildOptions;

/// File access for one build.
pub struct Loader<'a> {
    pub fs: &'a dyn FileSystem,
    pub opts: &'a BuildOptions,
}

/// Whether a resource entry names something remote.
pub fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("github.com/")
        || entry.starts_with("git@")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
}

impl Loader<'_> {
    pub fn read(&self, path: &Path) -> Result<Vec<u8>> {
        self.fs.read(path)
    }

    pub fn read_text(&self, path: &Path) -> Result<String> {
        read_text(self.fs, path)
    }

    /// A file named by a kustomization in `dir`; it must lie inside `dir`
    /// unless load restrictions are off.
    pub fn file_in(&self, dir: &Path, rel: &str) -> Result<PathBuf> {
        let path = dir.join(rel);
        if !self.fs.is_file(&path) {
            return Err(KustomizeError::Io {
                path,
                error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        if self.opts.restrict_to_root {
            let root = self.fs.canonical(dir)?;
            let real = self.fs.canonical(&path)?;
            if !real.starts_with(&root) {
                return Err(KustomizeError::invalid(
                    &path,
                    format!("file is outside the kustomization directory {}", dir.display()),
                ));
            }
        }
        Ok(path)
    }

    /// The resources in a YAML file.
    pub fn resources(&self, path: &Path) -> Result<Vec<Resource>> {
        let text = self.read_text(path)?;
        let mut out = Vec::new();
        for doc in crate::yaml::parse_documents(&text, path)? {
            expand(doc, path, &mut out)?;
        }
        Ok(out)
    }
}

fn expand(doc: Value, path: &Path, out: &mut Vec<Resource>) -> Result<()> {
    let Value::Object(ref m) = doc else {
        return Err(KustomizeError::invalid(path, "a resource must be a mapping"));
    };
    let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind.ends_with("List") && m.get("items").is_some_and(Value::is_array) {
        if let Some(Value::Array(items)) = m.get("items") {
            for item in items {
                expand(item.clone(), path, out)?;
            }
        }
        return Ok(());
    }
    if kind.is_empty() {
        return Err(KustomizeError::invalid(path, "resource has no kind"));
    }
    let named = m
        .get("metadata")
        .and_then(|md| md.get("name"))
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if !named {
        return Err(KustomizeError::invalid(path, format!("{kind} resource has no metadata.name")));
    }
    out.push(Resource::new(doc));
    Ok(())
}
