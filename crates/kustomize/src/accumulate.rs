//! Building one kustomization: load its resources (recursing into bases and
//! overlays), apply its components, run its generators, then its
//! transformers in kustomize's order, then fix name references.
//!
//! Transformer order within a level, as kustomize runs them:
//! patchesStrategicMerge, patches, namespace, namePrefix/nameSuffix,
//! commonLabels/labels, commonAnnotations, patchesJson6902, replicas, images,
//! replacements, then the `transformers:` plugins.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::Config;
use crate::error::{KustomizeError, Result};
use crate::generators;
use crate::kustomization::{self, string_map, Kustomization, ReplacementEntry, SortOptions};
use crate::load::{is_remote, Loader};
use crate::namereference;
use crate::patch::{self, schema::{MergeSchema, OpenApi}};
use crate::resource::Resource;
use crate::transformers::{images, labels, names, namespace, plugins, replacements, replicas, vars::DeclaredVar};

/// What a kustomization (with everything below it) produced.
#[derive(Debug, Default)]
pub struct Accumulated {
    pub resources: Vec<Resource>,
    pub vars: Vec<DeclaredVar>,
    /// Field specs added by `configurations:` here and below (on top of the defaults).
    pub config: Config,
    pub schema: MergeSchema,
    pub sort: Option<SortOptions>,
}

/// Walks a tree of kustomizations, refusing cycles.
pub struct Builder<'a> {
    pub loader: Loader<'a>,
    stack: Vec<PathBuf>,
    defaults: Config,
}

impl<'a> Builder<'a> {
    pub fn new(loader: Loader<'a>) -> Self {
        Builder { loader, stack: Vec::new(), defaults: Config::defaults() }
    }

    /// The built-in field specs plus the `configurations:` ones in `extra`.
    pub fn effective_config(&self, extra: &Config) -> std::borrow::Cow<'_, Config> {
        if extra.is_empty() {
            std::borrow::Cow::Borrowed(&self.defaults)
        } else {
            let mut c = self.defaults.clone();
            c.merge(extra);
            std::borrow::Cow::Owned(c)
        }
    }

    fn enter(&mut self, dir: &Path) -> Result<()> {
        let canon = self.loader.fs.canonical(dir)?;
        if let Some(i) = self.stack.iter().position(|d| *d == canon) {
            let mut chain: Vec<String> = self.stack[i..].iter().map(|d| d.display().to_string()).collect();
            chain.push(canon.display().to_string());
            return Err(KustomizeError::Cycle { chain: chain.join(" -> ") });
        }
        self.stack.push(canon);
        Ok(())
    }

    /// Builds the kustomization in `dir` (not a Component).
    pub fn kustomization(&mut self, dir: &Path) -> Result<Accumulated> {
        self.enter(dir)?;
        let result = self.kustomization_in(dir);
        self.stack.pop();
        result
    }

    fn kustomization_in(&mut self, dir: &Path) -> Result<Accumulated> {
        let (kfile, k) = kustomization::load(self.loader.fs, dir)?;
        if k.kind == "Component" {
            return Err(KustomizeError::invalid(
                &kfile,
                "a Component cannot be built or used as a resource; list it under components",
            ));
        }
        let mut acc = Accumulated { sort: k.sort_options.clone(), ..Default::default() };
        self.apply(dir, &kfile, &k, &mut acc)?;
        Ok(acc)
    }

    fn component(&mut self, dir: &Path, acc: &mut Accumulated) -> Result<()> {
        self.enter(dir)?;
        let result = (|| {
            let (kfile, k) = kustomization::load(self.loader.fs, dir)?;
            if k.kind != "Component" {
                return Err(KustomizeError::invalid(
                    &kfile,
                    "listed under components but its kind is not Component",
                ));
            }
            self.apply(dir, &kfile, &k, acc)
        })();
        self.stack.pop();
        result
    }

    fn apply(&mut self, dir: &Path, kfile: &Path, k: &Kustomization, acc: &mut Accumulated) -> Result<()> {
        reject_unsupported(kfile, k)?;
        self.load_resources(dir, kfile, k, acc)?;
        for c in &k.components {
            if is_remote(c) {
                return Err(remote(kfile, c));
            }
            self.component(&dir.join(c), acc)?;
        }
        for c in &k.configurations {
            let path = self.loader.file_in(dir, c)?;
            let text = self.loader.read_text(&path)?;
            let value = crate::yaml::parse_document(&text, &path)?;
            if !value.is_null() {
                let extra: Config = serde_json::from_value(value).map_err(|e| {
                    KustomizeError::invalid(&path, format!("invalid transformer configuration: {e}"))
                })?;
                acc.config.merge(&extra);
            }
        }
        if let Some(p) = k.openapi.get("path") {
            let path = self.loader.file_in(dir, p)?;
            let text = self.loader.read_text(&path)?;
            acc.schema.openapi = Some(OpenApi::new(crate::yaml::parse_document(&text, &path)?));
        }

        let global = k.generator_options.as_ref();
        for g in &k.config_map_generator {
            generators::run(&self.loader, dir, kfile, generators::Kind::ConfigMap, g, global, &mut acc.resources)?;
        }
        for g in &k.secret_generator {
            generators::run(&self.loader, dir, kfile, generators::Kind::Secret, g, global, &mut acc.resources)?;
        }
        check_unique(&acc.resources, kfile)?;

        for r in acc.resources.iter_mut() {
            r.level_name = r.name().to_string();
        }
        self.transform(dir, kfile, k, acc)?;
        let config = self.effective_config(&acc.config);
        namereference::fix(&mut acc.resources, &config)?;
        acc.vars.extend(k.vars.iter().map(|v| DeclaredVar { var: v.clone(), file: kfile.to_path_buf() }));
        Ok(())
    }

    fn load_resources(&mut self, dir: &Path, kfile: &Path, k: &Kustomization, acc: &mut Accumulated) -> Result<()> {
        for entry in k.resources.iter().chain(k.bases.iter()) {
            if is_remote(entry) {
                return Err(remote(kfile, entry));
            }
            let path = dir.join(entry);
            if self.loader.fs.is_dir(&path) {
                let sub = self.kustomization(&path)?;
                acc.resources.extend(sub.resources);
                acc.vars.extend(sub.vars);
                acc.config.merge(&sub.config);
                if acc.schema.openapi.is_none() {
                    acc.schema = sub.schema;
                }
            } else if self.loader.fs.is_file(&path) {
                let path = self.loader.file_in(dir, entry)?;
                acc.resources.extend(self.loader.resources(&path)?);
            } else {
                return Err(KustomizeError::invalid(
                    kfile,
                    format!("resource {entry:?}: no such file or directory ({})", path.display()),
                ));
            }
            check_unique(&acc.resources, kfile)?;
        }
        Ok(())
    }

    fn transform(&mut self, dir: &Path, kfile: &Path, k: &Kustomization, acc: &mut Accumulated) -> Result<()> {
        let config = self.effective_config(&acc.config).into_owned();
        let resources = &mut acc.resources;

        for entry in &k.patches_strategic_merge {
            for p in self.patches_from(dir, entry, None, true)? {
                patch::apply(resources, &p, &acc.schema)?;
            }
        }
        for entry in &k.patches {
            for p in self.patch_entry(dir, kfile, entry)? {
                patch::apply(resources, &p, &acc.schema)?;
            }
        }
        namespace::set(resources, &k.namespace)?;
        names::add_prefix_suffix(resources, &k.name_prefix, &k.name_suffix);

        labels::add(resources, &config.common_labels, &string_map(&k.common_labels))?;
        for entry in &k.labels {
            let mut specs = if entry.include_selectors {
                config.common_labels.clone()
            } else {
                let mut s = vec![crate::fieldspec::FieldSpec::new("", "metadata/labels", true)];
                if entry.include_templates {
                    s.extend(config.template_labels.iter().cloned());
                }
                s
            };
            specs.extend(entry.fields.iter().cloned());
            labels::add(resources, &specs, &string_map(&entry.pairs))?;
        }
        labels::add(resources, &config.common_annotations, &string_map(&k.common_annotations))?;

        for entry in &k.patches_json6902 {
            if entry.target.is_none() {
                return Err(KustomizeError::invalid(kfile, "a patchesJson6902 entry needs a target"));
            }
            for p in self.patch_entry(dir, kfile, entry)? {
                patch::apply(resources, &p, &acc.schema)?;
            }
        }
        replicas::set(resources, &config.replicas, &k.replicas)?;
        images::apply(resources, &config.images, &k.images)?;
        for entry in &k.replacements {
            match entry {
                ReplacementEntry::Inline(r) => replacements::apply(resources, r, kfile)?,
                ReplacementEntry::Path { path } => {
                    let file = self.loader.file_in(dir, path)?;
                    let text = self.loader.read_text(&file)?;
                    for doc in crate::yaml::parse_documents(&text, &file)? {
                        let list = match doc {
                            Value::Array(items) => items,
                            other => vec![other],
                        };
                        for item in list {
                            let r: replacements::Replacement = serde_json::from_value(item).map_err(|e| {
                                KustomizeError::invalid(&file, format!("invalid replacement: {e}"))
                            })?;
                            replacements::apply(resources, &r, &file)?;
                        }
                    }
                }
            }
        }
        for t in &k.transformers {
            for (config_doc, file) in self.plugin_configs(dir, kfile, t)? {
                let site = plugins::Site { file: &file, root: dir, schema: &acc.schema, loader: &self.loader };
                plugins::run(&config_doc, &site, resources)?;
            }
        }
        Ok(())
    }

    /// The plugin configs a `transformers:` entry names: a file, or a
    /// kustomization directory whose output is the configs.
    fn plugin_configs(&mut self, dir: &Path, kfile: &Path, entry: &str) -> Result<Vec<(Value, PathBuf)>> {
        if is_remote(entry) {
            return Err(remote(kfile, entry));
        }
        let path = dir.join(entry);
        if self.loader.fs.is_dir(&path) {
            let file = kustomization::find_file(self.loader.fs, &path)?;
            let sub = self.kustomization(&path)?;
            return Ok(sub.resources.into_iter().map(|r| (r.obj, file.clone())).collect());
        }
        if !entry.contains('\n') && !entry.trim_start().starts_with("apiVersion") {
            let file = self.loader.file_in(dir, entry)?;
            let text = self.loader.read_text(&file)?;
            let docs = crate::yaml::parse_documents(&text, &file)?;
            return Ok(docs.into_iter().map(|d| (d, file.clone())).collect());
        }
        let docs = crate::yaml::parse_documents(entry, kfile)?;
        Ok(docs.into_iter().map(|d| (d, kfile.to_path_buf())).collect())
    }

    /// Patches from a `patchesStrategicMerge` entry (a file or inline YAML).
    fn patches_from(&self, dir: &Path, entry: &str, target: Option<crate::target::Selector>, inline_ok: bool) -> Result<Vec<patch::Patch>> {
        if inline_ok && (entry.contains('\n') || entry.trim_start().starts_with('{')) {
            let source = dir.join("<inline patch>");
            return patch::parse(entry, &source, target);
        }
        let file = self.loader.file_in(dir, entry)?;
        let text = self.loader.read_text(&file)?;
        patch::parse(&text, &file, target)
    }

    fn patch_entry(&self, dir: &Path, kfile: &Path, entry: &kustomization::PatchEntry) -> Result<Vec<patch::Patch>> {
        let mut patches = match (&entry.path, &entry.patch) {
            (Some(p), None) => self.patches_from(dir, p, entry.target.clone(), false)?,
            (None, Some(inline)) => patch::parse(inline, kfile, entry.target.clone())?,
            (Some(_), Some(_)) => return Err(KustomizeError::invalid(kfile, "a patch has both path and patch")),
            (None, None) => return Err(KustomizeError::invalid(kfile, "a patch needs a path or an inline patch")),
        };
        for p in &mut patches {
            p.options = entry.options;
        }
        Ok(patches)
    }
}

fn remote(kfile: &Path, entry: &str) -> KustomizeError {
    KustomizeError::Unsupported {
        path: kfile.to_path_buf(),
        what: format!("remote resource {entry:?} (builds are offline)"),
    }
}

fn reject_unsupported(kfile: &Path, k: &Kustomization) -> Result<()> {
    let unsupported = |what: &str| KustomizeError::Unsupported {
        path: kfile.to_path_buf(),
        what: what.to_string(),
    };
    if !k.helm_charts.is_empty() || !k.helm_chart_inflation_generator.is_empty() {
        return Err(unsupported("helmCharts (chart inflation is not available yet)"));
    }
    if !k.generators.is_empty() {
        return Err(unsupported("generators (generator plugins)"));
    }
    if !k.crds.is_empty() {
        return Err(unsupported("crds (use configurations for custom name references)"));
    }
    if !k.build_metadata.is_empty() {
        return Err(unsupported("buildMetadata"));
    }
    Ok(())
}

/// Two resources may not share kind, namespace and name.
fn check_unique(resources: &[Resource], kfile: &Path) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for r in resources {
        if !seen.insert((r.group(), r.kind(), r.namespace(), r.name())) {
            return Err(KustomizeError::invalid(
                kfile,
                format!("resource {} is defined more than once", r.describe()),
            ));
        }
    }
    Ok(())
}
