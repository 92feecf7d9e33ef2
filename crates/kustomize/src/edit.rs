//! Editing a kustomization file the way `kustomize create` and
//! `kustomize edit …` do.
//!
//! The file is read as a YAML document, changed, and written back whole in
//! kustomize's layout: the top-level fields the file already had keep their
//! order and the comment lines above them; fields it did not have are added
//! after them in kustomize's canonical field order; empty fields are dropped;
//! nested maps come out with sorted keys and sequences flush with their key
//! (the same emitter `build` uses). Deprecated fields move where kustomize's
//! reader moves them (`bases` into `resources`, `imageTags` into `images`),
//! and a missing `apiVersion`/`kind` is filled in.
//!
//! Unlike the build engine, this module reads and writes the disk directly.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{KustomizeError, Result};
use crate::kustomization::FILE_NAMES;

/// kustomize's canonical order of the top-level fields.
const FIELD_ORDER: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "sortOptions",
    "resources",
    "bases",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "crds",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "configMapGenerator",
    "secretGenerator",
    "helmCharts",
    "helmChartInflationGenerator",
    "helmGlobals",
    "generatorOptions",
    "vars",
    "images",
    "replacements",
    "replicas",
    "configurations",
    "generators",
    "transformers",
    "components",
    "openapi",
    "buildMetadata",
];

const API_VERSION: &str = "kustomize.config.k8s.io/v1beta1";

/// A kustomization file open for editing.
#[derive(Debug, Clone)]
pub struct KustomizationFile {
    path: PathBuf,
    /// Top-level keys in the file's own order, each with the comment and
    /// blank lines that preceded it.
    original: Vec<(String, String)>,
    doc: Map<String, Value>,
}

/// What an edit did besides changing the file: entries it skipped, for the
/// CLI to report as kustomize logs them.
pub type Notes = Vec<String>;

impl KustomizationFile {
    /// A new, empty kustomization in `dir`; refuses if `dir` already has one.
    pub fn create(dir: &Path) -> Result<Self> {
        if let Some(existing) = FILE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.exists()) {
            return Err(KustomizeError::invalid(
                existing,
                "kustomization file already exists",
            ));
        }
        let mut k = KustomizationFile {
            path: dir.join(FILE_NAMES[0]),
            original: Vec::new(),
            doc: Map::new(),
        };
        k.fix();
        Ok(k)
    }

    /// Opens the kustomization file in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let found: Vec<PathBuf> = FILE_NAMES
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| p.exists())
            .collect();
        let path = match found.len() {
            0 => {
                return Err(KustomizeError::NoKustomization {
                    path: dir.to_path_buf(),
                })
            }
            1 => found.into_iter().next().unwrap_or_default(),
            _ => {
                let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
                return Err(KustomizeError::invalid(
                    dir,
                    format!(
                        "found more than one kustomization file: {}",
                        names.join(", ")
                    ),
                ));
            }
        };
        if path.is_dir() {
            return Err(KustomizeError::invalid(
                &path,
                "should be a file, not a directory",
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(|error| KustomizeError::Io {
            path: path.clone(),
            error,
        })?;
        Self::parse(path, &text)
    }

    /// Parses kustomization `text` that lives (or will live) at `path`.
    pub fn parse(path: PathBuf, text: &str) -> Result<Self> {
        let doc = match crate::yaml::parse_document(text, &path)? {
            Value::Null => Map::new(),
            Value::Object(m) => m,
            _ => {
                return Err(KustomizeError::invalid(
                    &path,
                    "a kustomization must be a YAML map",
                ))
            }
        };
        let mut original = Vec::new();
        let mut comments = String::new();
        for line in text.lines() {
            let trimmed = line.trim_start_matches(' ');
            if trimmed.is_empty() || trimmed.starts_with('#') {
                comments.push_str(line);
                comments.push('\n');
                continue;
            }
            if let Some(key) = top_level_key(line).and_then(|k| canonical_key(&doc, k)) {
                if !original.iter().any(|(k, _)| *k == key) {
                    original.push((key, std::mem::take(&mut comments)));
                    continue;
                }
            }
            // A comment inside a field's value is not kept.
            comments.clear();
        }
        let mut k = KustomizationFile {
            path,
            original,
            doc,
        };
        k.fix();
        Ok(k)
    }

    /// Where the file is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed document.
    pub fn document(&self) -> &Map<String, Value> {
        &self.doc
    }

    /// Moves deprecated fields and fills in the type, as kustomize's reader does.
    fn fix(&mut self) {
        if str_field(&self.doc, "kind").is_empty() {
            self.doc.insert("kind".into(), "Kustomization".into());
        }
        if str_field(&self.doc, "apiVersion").is_empty() {
            let v = if str_field(&self.doc, "kind") == "Component" {
                "kustomize.config.k8s.io/v1alpha1"
            } else {
                API_VERSION
            };
            self.doc.insert("apiVersion".into(), v.into());
        }
        for (old, new) in [("bases", "resources"), ("imageTags", "images")] {
            if let Some(Value::Array(items)) = self.doc.remove(old) {
                self.seq(new).extend(items);
            }
        }
        for gen in ["configMapGenerator", "secretGenerator"] {
            if let Some(Value::Array(list)) = self.doc.get_mut(gen) {
                for g in list.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(Value::String(env)) = g.remove("env") {
                        if !env.is_empty() {
                            seq_in(g, "envs").push(env.into());
                        }
                    }
                }
            }
        }
    }

    /// The file's text as kustomize would write it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let emit = |out: &mut String, key: &str| {
            if let Some(v) = self.doc.get(key) {
                if !is_empty(v) {
                    let mut m = Map::new();
                    m.insert(key.to_string(), v.clone());
                    out.push_str(&crate::output::document(&Value::Object(m)));
                }
            }
        };
        for (key, comment) in &self.original {
            out.push_str(comment);
            emit(&mut out, key);
        }
        let known = |k: &str| self.original.iter().any(|(o, _)| o == k);
        for key in FIELD_ORDER.iter().filter(|k| !known(k)) {
            emit(&mut out, key);
        }
        // Fields kustomize does not know stay, after the known ones.
        for key in self
            .doc
            .keys()
            .filter(|k| !known(k) && !FIELD_ORDER.contains(&k.as_str()))
        {
            emit(&mut out, key);
        }
        out
    }

    /// Writes the file.
    pub fn save(&self) -> Result<()> {
        std::fs::write(&self.path, self.render()).map_err(|error| KustomizeError::Io {
            path: self.path.clone(),
            error,
        })
    }

    fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    fn seq(&mut self, key: &str) -> &mut Vec<Value> {
        seq_in(&mut self.doc, key)
    }

    fn map(&mut self, key: &str) -> &mut Map<String, Value> {
        map_in(&mut self.doc, key)
    }

    /// `edit add resource`: each pattern is a glob over the kustomization's
    /// directory (or a remote URL, kept as given); a pattern matching nothing
    /// is an error, entries already listed are skipped.
    pub fn add_resources(&mut self, patterns: &[String]) -> Result<Notes> {
        let dir = self.dir();
        let mut notes = Vec::new();
        let mut found = Vec::new();
        for p in patterns {
            if is_remote(p) {
                found.push(p.clone());
                continue;
            }
            let matches = glob(&dir, p);
            if matches.is_empty() {
                return Err(KustomizeError::invalid(
                    dir.join(p),
                    "resource matches no file or directory",
                ));
            }
            // A wildcard never picks up the kustomization file itself.
            let wild = p.contains(['*', '?', '[']);
            found.extend(
                matches
                    .into_iter()
                    .filter(|m| !wild || !FILE_NAMES.contains(&m.rsplit('/').next().unwrap_or(""))),
            );
        }
        let list = self.seq("resources");
        for r in found {
            if list.iter().any(|v| v.as_str() == Some(&r)) {
                notes.push(format!("resource {r} already in kustomization file"));
            } else {
                list.push(r.into());
            }
        }
        Ok(notes)
    }

    /// `edit remove resource`: patterns are globs over the listed entries.
    pub fn remove_resources(&mut self, patterns: &[String]) -> Result<Notes> {
        let mut notes = Vec::new();
        let list = self.seq("resources");
        for p in patterns {
            let before = list.len();
            list.retain(|v| !v.as_str().is_some_and(|s| s == p || wildcard(p, s)));
            if list.len() == before {
                notes.push(format!("resource {p} doesn't exist in kustomization file"));
            }
        }
        Ok(notes)
    }

    /// `edit add configmap` / `edit add secret`: a generator entry, or more
    /// sources for the entry of that name.
    pub fn add_generator(
        &mut self,
        secret: bool,
        name: &str,
        src: &GeneratorSources,
    ) -> Result<Notes> {
        let field = if secret {
            "secretGenerator"
        } else {
            "configMapGenerator"
        };
        if name.is_empty() {
            return Err(KustomizeError::invalid(
                &self.path,
                format!("{field}: a name is required"),
            ));
        }
        for lit in &src.literals {
            match lit.split_once('=') {
                Some((k, _)) if !k.is_empty() => {}
                _ => {
                    return Err(KustomizeError::invalid(
                        &self.path,
                        format!("invalid literal source {lit:?}: expected key=value"),
                    ))
                }
            }
        }
        let dir = self.dir();
        for f in src.files.iter().chain(&src.env_files) {
            let path = f.split_once('=').map_or(f.as_str(), |(_, p)| p);
            if !dir.join(path).is_file() {
                return Err(KustomizeError::invalid(dir.join(path), "no such file"));
            }
        }
        let list = self.seq(field);
        let idx = match list
            .iter()
            .position(|g| g.get("name").and_then(Value::as_str) == Some(name))
        {
            Some(i) => i,
            None => {
                let mut g = Map::new();
                g.insert("name".into(), name.into());
                if secret {
                    g.insert(
                        "type".into(),
                        src.secret_type
                            .clone()
                            .unwrap_or_else(|| "Opaque".into())
                            .into(),
                    );
                }
                list.push(Value::Object(g));
                list.len() - 1
            }
        };
        let Some(g) = list[idx].as_object_mut() else {
            return Err(KustomizeError::invalid(
                &self.path,
                format!("{field} entry {name} is not a map"),
            ));
        };
        let mut notes = Vec::new();
        for (key, items) in [
            ("literals", &src.literals),
            ("files", &src.files),
            ("envs", &src.env_files),
        ] {
            for item in items {
                let s = seq_in(g, key);
                if s.iter().any(|v| v.as_str() == Some(item)) {
                    notes.push(format!("{item} already in {field} {name}"));
                } else {
                    s.push(item.clone().into());
                }
            }
        }
        if let Some(b) = &src.behavior {
            if !["create", "merge", "replace"].contains(&b.as_str()) {
                return Err(KustomizeError::invalid(
                    &self.path,
                    format!("invalid behavior {b:?}: must be create, merge or replace"),
                ));
            }
            g.insert("behavior".into(), b.clone().into());
        }
        if src.disable_name_suffix_hash {
            map_in(g, "options").insert("disableNameSuffixHash".into(), true.into());
        }
        Ok(notes)
    }

    /// `edit add patch`: a `patches` entry from a file or inline text, with
    /// an optional target; an identical entry is skipped.
    pub fn add_patch(
        &mut self,
        path: Option<&str>,
        inline: Option<&str>,
        target: &PatchTarget,
    ) -> Result<Notes> {
        let mut entry = Map::new();
        match (path, inline) {
            (Some(p), None) => {
                if !self.dir().join(p).is_file() {
                    return Err(KustomizeError::invalid(
                        self.dir().join(p),
                        "patch file does not exist",
                    ));
                }
                entry.insert("path".into(), p.into());
            }
            (None, Some(text)) => {
                entry.insert("patch".into(), text.into());
            }
            _ => {
                return Err(KustomizeError::invalid(
                    &self.path,
                    "edit add patch needs exactly one of --path and --patch",
                ))
            }
        }
        let mut t = Map::new();
        for (k, v) in [
            ("group", &target.group),
            ("version", &target.version),
            ("kind", &target.kind),
            ("name", &target.name),
            ("namespace", &target.namespace),
            ("labelSelector", &target.label_selector),
            ("annotationSelector", &target.annotation_selector),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                t.insert(k.into(), v.clone().into());
            }
        }
        if !t.is_empty() {
            entry.insert("target".into(), Value::Object(t));
        }
        let entry = Value::Object(entry);
        let list = self.seq("patches");
        if list.contains(&entry) {
            return Ok(vec!["patch already in kustomization file".into()]);
        }
        list.push(entry);
        Ok(Vec::new())
    }

    /// `edit add label` / `edit add annotation`: `key:value` pairs into
    /// `commonLabels` / `commonAnnotations`; an existing key is an error
    /// unless `force`.
    pub fn add_pairs(&mut self, annotations: bool, pairs: &[String], force: bool) -> Result<()> {
        let (field, what) = if annotations {
            ("commonAnnotations", "annotation")
        } else {
            ("commonLabels", "label")
        };
        let path = self.path.clone();
        let parsed = parse_pairs(&path, what, pairs)?;
        let m = self.map(field);
        for (k, v) in parsed {
            if m.contains_key(&k) && !force {
                return Err(KustomizeError::invalid(
                    &path,
                    format!("{what} {k} already in kustomization file (use --force to overwrite)"),
                ));
            }
            m.insert(k, v.into());
        }
        Ok(())
    }

    /// `create --labels` / `--annotations`.
    fn set_pairs(&mut self, field: &str, what: &str, pairs: &[String]) -> Result<()> {
        let path = self.path.clone();
        let parsed = parse_pairs(&path, what, pairs)?;
        let m = self.map(field);
        for (k, v) in parsed {
            m.insert(k, v.into());
        }
        Ok(())
    }

    /// `edit set namespace`.
    pub fn set_namespace(&mut self, ns: &str) -> Result<()> {
        if !is_dns_label(ns) {
            return Err(KustomizeError::invalid(
                &self.path,
                format!("invalid namespace {ns:?}: must be a DNS-1123 label (lowercase alphanumerics and '-', at most 63)"),
            ));
        }
        self.doc.insert("namespace".into(), ns.into());
        Ok(())
    }

    /// `edit set nameprefix`.
    pub fn set_name_prefix(&mut self, p: &str) {
        self.doc.insert("namePrefix".into(), p.into());
    }

    /// `edit set namesuffix`.
    pub fn set_name_suffix(&mut self, s: &str) {
        self.doc.insert("nameSuffix".into(), s.into());
    }

    /// `edit set image`: each spec is `name=newName[:tag|@digest]`,
    /// `name:tag` or `name@digest`; entries end up sorted by name.
    pub fn set_images(&mut self, specs: &[String]) -> Result<()> {
        let path = self.path.clone();
        let parsed: Vec<ImageSpec> = specs
            .iter()
            .map(|s| ImageSpec::parse(s).map_err(|m| KustomizeError::invalid(&path, m)))
            .collect::<Result<_>>()?;
        let list = self.seq("images");
        for spec in parsed {
            let idx = match list
                .iter()
                .position(|i| i.get("name").and_then(Value::as_str) == Some(&spec.name))
            {
                Some(i) => i,
                None => {
                    let mut m = Map::new();
                    m.insert("name".into(), spec.name.clone().into());
                    list.push(Value::Object(m));
                    list.len() - 1
                }
            };
            let Some(entry) = list[idx].as_object_mut() else {
                continue;
            };
            if let Some(n) = spec.new_name {
                entry.insert("newName".into(), n.into());
            }
            if let Some(t) = spec.tag {
                entry.remove("digest");
                entry.insert("newTag".into(), t.into());
            }
            if let Some(d) = spec.digest {
                entry.remove("newTag");
                entry.insert("digest".into(), d.into());
            }
        }
        list.sort_by(|a, b| {
            let n = |v: &Value| {
                v.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            n(a).cmp(&n(b))
        });
        Ok(())
    }

    /// `edit set replicas name=count ...`.
    pub fn set_replicas(&mut self, specs: &[String]) -> Result<()> {
        let path = self.path.clone();
        let mut parsed = Vec::new();
        for s in specs {
            let bad = || {
                KustomizeError::invalid(
                    &path,
                    format!("invalid replicas spec {s:?}: expected name=count"),
                )
            };
            let (name, count) = s.split_once('=').ok_or_else(bad)?;
            let count: i64 = count.parse().map_err(|_| bad())?;
            if name.is_empty() || count < 0 {
                return Err(bad());
            }
            parsed.push((name.to_string(), count));
        }
        let list = self.seq("replicas");
        for (name, count) in parsed {
            match list
                .iter_mut()
                .find(|r| r.get("name").and_then(Value::as_str) == Some(&name))
            {
                Some(Value::Object(m)) => {
                    m.insert("count".into(), count.into());
                }
                _ => {
                    let mut m = Map::new();
                    m.insert("name".into(), name.into());
                    m.insert("count".into(), count.into());
                    list.push(Value::Object(m));
                }
            }
        }
        Ok(())
    }
}

/// Sources of `edit add configmap|secret`.
#[derive(Debug, Clone, Default)]
pub struct GeneratorSources {
    /// `key=value`.
    pub literals: Vec<String>,
    /// `[key=]path`.
    pub files: Vec<String>,
    /// Env files (`key=value` lines).
    pub env_files: Vec<String>,
    pub behavior: Option<String>,
    pub disable_name_suffix_hash: bool,
    /// A secret's `type` (Opaque when unset).
    pub secret_type: Option<String>,
}

/// The target selector of `edit add patch`.
#[derive(Debug, Clone, Default)]
pub struct PatchTarget {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

/// What `kustomize create` takes.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub resources: Vec<String>,
    pub namespace: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub labels: Vec<String>,
    pub annotations: Vec<String>,
    pub autodetect: bool,
    pub recursive: bool,
}

/// `kustomize create` in `dir`: writes a new kustomization file and returns it.
pub fn create(dir: &Path, opts: &CreateOptions) -> Result<(KustomizationFile, Notes)> {
    let mut k = KustomizationFile::create(dir)?;
    let mut resources = opts.resources.clone();
    if opts.autodetect {
        for r in detect_resources(dir, opts.recursive)? {
            if !resources.contains(&r) {
                resources.push(r);
            }
        }
    }
    let notes = if resources.is_empty() {
        Vec::new()
    } else {
        k.add_resources(&resources)?
    };
    if let Some(ns) = &opts.namespace {
        k.set_namespace(ns)?;
    }
    if let Some(p) = &opts.name_prefix {
        k.set_name_prefix(p);
    }
    if let Some(s) = &opts.name_suffix {
        k.set_name_suffix(s);
    }
    k.set_pairs("commonLabels", "label", &opts.labels)?;
    k.set_pairs("commonAnnotations", "annotation", &opts.annotations)?;
    k.save()?;
    Ok((k, notes))
}

/// Files under `dir` holding Kubernetes resources (every document has
/// `apiVersion` and `kind`), and with `recursive`, subdirectories holding a
/// kustomization (not descended into); paths relative to `dir`, in walk order.
fn detect_resources(dir: &Path, recursive: bool) -> Result<Vec<String>> {
    let mut out = Vec::new();
    walk(dir, dir, recursive, &mut out)?;
    Ok(out)
}

fn walk(root: &Path, dir: &Path, recursive: bool, out: &mut Vec<String>) -> Result<()> {
    for path in sorted_entries(dir)? {
        let rel = rel_string(root, &path);
        if path.is_dir() {
            if !recursive {
                continue;
            }
            if FILE_NAMES.iter().any(|n| path.join(n).is_file()) {
                out.push(rel);
            } else {
                walk(root, &path, recursive, out)?;
            }
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if FILE_NAMES.contains(&name)
            || !(name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(docs) = crate::yaml::parse_documents(&text, &path) else {
            continue;
        };
        let is_resource = |d: &Value| {
            d.get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
                && d.get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
        };
        if !docs.is_empty() && docs.iter().all(is_resource) {
            out.push(rel);
        }
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|error| KustomizeError::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

fn rel_string(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Expands a glob (`*`, `?`, `[...]` within a path component) relative to
/// `dir`; a pattern without wildcards matches itself if it exists. Results
/// come back as `/`-separated paths as written in the pattern, sorted.
pub fn glob(dir: &Path, pattern: &str) -> Vec<String> {
    let mut current: Vec<String> = vec![String::new()];
    let parts: Vec<&str> = pattern.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let mut next = Vec::new();
        for prefix in &current {
            let join = |s: &str| {
                if prefix.is_empty() && i == 0 {
                    s.to_string()
                } else {
                    format!("{prefix}/{s}")
                }
            };
            if !part.contains(['*', '?', '[']) {
                next.push(join(part));
                continue;
            }
            let base = if prefix.is_empty() && i == 0 {
                dir.to_path_buf()
            } else {
                dir.join(prefix)
            };
            let Ok(entries) = sorted_entries(&base) else {
                continue;
            };
            for e in entries {
                let Some(name) = e.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if name.starts_with('.') && !part.starts_with('.') {
                    continue;
                }
                if wildcard(part, name) {
                    next.push(join(name));
                }
            }
        }
        current = next;
    }
    current.retain(|p| !p.is_empty() && dir.join(p).exists());
    current.sort();
    current.dedup();
    current
}

/// Shell-style wildcard match of a whole string (`*` does not cross `/`).
fn wildcard(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && t[0] != '/' && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(end) = p.iter().skip(1).position(|&c| c == ']').map(|e| e + 1) else {
                    return !t.is_empty() && t[0] == '[' && go(&p[1..], &t[1..]);
                };
                let Some(&c) = t.first() else { return false };
                let mut set = &p[1..end];
                let negate = matches!(set.first(), Some('!') | Some('^'));
                if negate {
                    set = &set[1..];
                }
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 1..], &t[1..])
            }
            Some(&c) => t.first() == Some(&c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

fn is_remote(p: &str) -> bool {
    p.contains("://") || p.starts_with("github.com/") || p.starts_with("git@")
}

/// A parsed `edit set image` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: String,
    pub new_name: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageSpec {
    /// Parses `name=newName[:tag|@digest]`, `name=newName`, `name:tag` or
    /// `name@digest`.
    pub fn parse(spec: &str) -> std::result::Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "invalid image spec {spec:?}: {why} (expected name=newName[:tag|@digest], name:tag or name@digest)"
            )
        };
        let (name, rest, renamed) = match spec.split_once('=') {
            Some((n, r)) => (n, r, true),
            None => {
                let (n, _, _) = split_ref(spec);
                (n, spec, false)
            }
        };
        if name.is_empty() || !valid_name(name) {
            return Err(bad("bad image name"));
        }
        let (new_name, tag, digest) = split_ref(rest);
        if new_name.is_empty() || !valid_name(new_name) {
            return Err(bad("bad image name"));
        }
        if !renamed && tag.is_none() && digest.is_none() {
            return Err(bad("no new name, tag or digest"));
        }
        if let Some(t) = tag {
            let ok = t.len() <= 128
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                && !t.starts_with(['.', '-']);
            if t.is_empty() || !ok {
                return Err(bad("bad tag"));
            }
        }
        if let Some(d) = digest {
            let ok = d.split_once(':').is_some_and(|(alg, hex)| {
                !alg.is_empty()
                    && alg
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c))
                    && hex.len() >= 32
                    && hex.chars().all(|c| c.is_ascii_hexdigit())
            });
            if !ok {
                return Err(bad("bad digest"));
            }
        }
        Ok(ImageSpec {
            name: name.to_string(),
            new_name: renamed.then(|| new_name.to_string()),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }
}

/// Splits `name[:tag][@digest]`; a `:` before the last `/` is a registry port.
fn split_ref(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..]), digest),
        None => (rest, None, digest),
    }
}

fn valid_name(n: &str) -> bool {
    !n.starts_with(['/', ':', '.', '-'])
        && !n.ends_with(['/', ':'])
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c))
        && n.chars().any(|c| c.is_ascii_alphanumeric())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn parse_pairs(path: &Path, what: &str, pairs: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in pairs.iter().flat_map(|p| p.split(',')) {
        if item.is_empty() {
            continue;
        }
        match item.split_once(':') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            None if !item.is_empty() => out.push((item.to_string(), String::new())),
            _ => {
                return Err(KustomizeError::invalid(
                    path,
                    format!("invalid {what} {item:?}: expected key:value"),
                ))
            }
        }
    }
    Ok(out)
}

/// The key of a top-level `key:` line, if it is one.
fn top_level_key(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t', '-', '#']) || line.starts_with("---") {
        return None;
    }
    let (k, _) = line.split_once(':')?;
    Some(k.trim().trim_matches(['"', '\'']))
}

/// The document key a top-level line names (kustomize matches case-insensitively).
fn canonical_key(doc: &Map<String, Value>, k: &str) -> Option<String> {
    if doc.contains_key(k) {
        return Some(k.to_string());
    }
    doc.keys().find(|d| d.eq_ignore_ascii_case(k)).cloned()
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

fn seq_in<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    if !m.get(key).is_some_and(Value::is_array) {
        m.insert(key.into(), Value::Array(Vec::new()));
    }
    match m.get_mut(key) {
        Some(Value::Array(a)) => a,
        _ => unreachable!("just inserted an array"),
    }
}

fn map_in<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    if !m.get(key).is_some_and(Value::is_object) {
        m.insert(key.into(), Value::Object(Map::new()));
    }
    match m.get_mut(key) {
        Some(Value::Object(o)) => o,
        _ => unreachable!("just inserted a map"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> KustomizationFile {
        KustomizationFile::parse(PathBuf::from("/x/kustomization.yaml"), text).unwrap()
    }

    #[test]
    fn original_order_and_comments_stay_new_fields_follow_in_canonical_order() {
        let mut k = parse(
            "# top\nkind: Kustomization\napiVersion: kustomize.config.k8s.io/v1beta1\n\n# the images\nimages:\n- name: a\n  newTag: \"1\"\nresources:\n- x.yaml\n",
        );
        k.set_name_prefix("p-");
        k.set_namespace("ns").unwrap();
        assert_eq!(
            k.render(),
            "# top\nkind: Kustomization\napiVersion: kustomize.config.k8s.io/v1beta1\n\n# the images\nimages:\n- name: a\n  newTag: \"1\"\nresources:\n- x.yaml\nnamePrefix: p-\nnamespace: ns\n"
        );
    }

    #[test]
    fn missing_type_is_appended_and_bases_move_to_resources() {
        let k = parse("bases:\n- ../base\n");
        assert_eq!(
            k.render(),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../base\n"
        );
    }

    #[test]
    fn image_specs() {
        let p = |s: &str| ImageSpec::parse(s);
        assert_eq!(
            p("nginx=nginx:1.27").unwrap(),
            ImageSpec {
                name: "nginx".into(),
                new_name: Some("nginx".into()),
                tag: Some("1.27".into()),
                digest: None
            }
        );
        assert_eq!(p("nginx:1.27").unwrap().tag.as_deref(), Some("1.27"));
        assert_eq!(p("nginx:1.27").unwrap().new_name, None);
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(p(&format!("nginx@{d}")).unwrap().digest, Some(d.clone()));
        let r = p("localhost:5000/app=reg:5000/app:v2").unwrap();
        assert_eq!(
            (r.name.as_str(), r.new_name.as_deref(), r.tag.as_deref()),
            ("localhost:5000/app", Some("reg:5000/app"), Some("v2"))
        );
        for bad in [
            "",
            "nginx",
            "=x:1",
            "nginx=",
            "nginx:",
            "nginx:bad tag",
            "nginx@sha256:zz",
            "Nginx!:1",
        ] {
            assert!(p(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*.yaml", "a.yaml"));
        assert!(!wildcard("*.yaml", "d/a.yaml"));
        assert!(wildcard("[ab]?.yml", "bx.yml"));
        assert!(!wildcard("[!ab]?.yml", "bx.yml"));
    }
}
