//! Kustomize-compatible `build`: turns a kustomization tree (bases,
//! overlays, components, patches, generators, transformers) into the list of
//! Kubernetes objects `kustomize build` / `kubectl kustomize` would print,
//! in the same order, and formats them as YAML the same way.
//!
//! This crate owns the kustomization format and its transformations. It is
//! pure: it reads files only through [`FileSystem`] (the disk by default),
//! never touches the network or a cluster, and calls no other Tugboat crate.
//! Remote resources and Helm charts are refused with a clear error.
//!
//! [`edit`] is the one part that writes: `kustomize create` and
//! `kustomize edit add|set|remove` on a kustomization file.

mod accumulate;
mod config;
pub mod edit;
mod error;
mod fieldspec;
mod fs;
mod generators;
mod hash;
mod kustomization;
mod load;
mod namereference;
mod order;
mod output;
mod patch;
mod resource;
mod target;
mod transformers;
mod yaml;

use std::path::Path;

use serde_json::Value;

pub use error::KustomizeError;
pub use fs::{DiskFs, FileSystem};
pub use output::to_yaml;

/// Knobs of a build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Files a kustomization reads (resources, patches, generator sources)
    /// must lie inside its own directory, as with kustomize's default
    /// `--load-restrictor LoadRestrictionsRootOnly`.
    pub restrict_to_root: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { restrict_to_root: true }
    }
}

/// Builds the kustomization in `dir` from the disk; resources come back in
/// kustomize's output order.
pub fn build(dir: &Path, opts: &BuildOptions) -> Result<Vec<Value>, KustomizeError> {
    build_with(&DiskFs, dir, opts)
}

/// [`build`] reading through any [`FileSystem`].
pub fn build_with(fs: &dyn FileSystem, dir: &Path, opts: &BuildOptions) -> Result<Vec<Value>, KustomizeError> {
    let loader = load::Loader { fs, opts };
    let mut builder = accumulate::Builder::new(loader);
    let mut acc = builder.kustomization(dir)?;

    // Generated names get their content hash last, over the final content.
    for r in acc.resources.iter_mut() {
        r.level_name = r.name().to_string();
    }
    for r in acc.resources.iter_mut().filter(|r| r.needs_hash) {
        let name = format!("{}-{}", r.name(), hash::content_hash(&r.obj));
        r.set_name(&name);
    }
    let config = builder.effective_config(&acc.config);
    namereference::fix(&mut acc.resources, &config)?;
    transformers::vars::resolve(&mut acc.resources, &acc.vars, &config.var_reference)?;
    order::sort(&mut acc.resources, acc.sort.as_ref());
    Ok(acc.resources.into_iter().map(|r| r.obj).collect())
}
