//! Patches from a kustomization (`patches`, `patchesStrategicMerge`,
//! `patchesJson6902`): loading them and applying them to the resources they
//! select.

pub mod json6902;
pub mod schema;
pub mod smp;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::kustomization::PatchOptions;
use crate::resource::{split_api_version, Resource};
use crate::target::Selector;
use schema::MergeSchema;

/// One patch document.
#[derive(Debug, Clone)]
pub enum PatchBody {
    Strategic(Value),
    Json(Vec<json6902::Operation>),
}

/// A patch with where it came from and what it targets.
#[derive(Debug, Clone)]
pub struct Patch {
    pub source: PathBuf,
    pub body: PatchBody,
    pub target: Option<Selector>,
    pub options: PatchOptions,
}

/// Parses patch text: a YAML/JSON list is a JSON patch, otherwise every
/// document is a strategic merge patch.
pub fn parse(text: &str, source: &Path, target: Option<Selector>) -> Result<Vec<Patch>> {
    let docs = crate::yaml::parse_documents(text, source)?;
    let mut out = Vec::new();
    for doc in docs {
        let body = match doc {
            Value::Array(_) => {
                let ops = serde_json::from_value(doc).map_err(|e| {
                    KustomizeError::invalid(source, format!("invalid json patch: {e}"))
                })?;
                PatchBody::Json(ops)
            }
            Value::Object(_) => PatchBody::Strategic(doc),
            _ => {
                return Err(KustomizeError::invalid(
                    source,
                    "a patch must be a mapping (strategic merge) or a list (json patch)",
                ))
            }
        };
        out.push(Patch {
            source: source.to_path_buf(),
            body,
            target: target.clone(),
            options: PatchOptions::default(),
        });
    }
    Ok(out)
}

/// The selector an untargeted strategic merge patch implies: its own id.
fn implied_selector(patch: &Value) -> Selector {
    let s = |p: &[&str]| {
        let mut v = patch;
        for k in p {
            v = match v.get(k) {
                Some(n) => n,
                None => return String::new(),
            };
        }
        v.as_str().unwrap_or("").to_string()
    };
    let av = s(&["apiVersion"]);
    let (group, version) = split_api_version(&av);
    Selector {
        group: group.to_string(),
        version: version.to_string(),
        kind: s(&["kind"]),
        name: s(&["metadata", "name"]),
        namespace: s(&["metadata", "namespace"]),
        literal: true,
        ..Default::default()
    }
}

/// Applies one patch to the resources it selects.
pub fn apply(resources: &mut Vec<Resource>, patch: &Patch, schema: &MergeSchema) -> Result<()> {
    let selector = match (&patch.target, &patch.body) {
        (Some(t), _) => t.clone(),
        (None, PatchBody::Strategic(p)) => implied_selector(p),
        (None, PatchBody::Json(_)) => {
            return Err(KustomizeError::invalid(
                &patch.source,
                "a json patch needs a target",
            ))
        }
    };
    let mut matched = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        let hit = selector
            .matches(r)
            .map_err(|m| KustomizeError::invalid(&patch.source, m))?;
        if hit {
            matched.push(i);
        }
    }
    if matched.is_empty() && patch.target.is_none() {
        return Err(KustomizeError::PatchNoMatch {
            path: patch.source.clone(),
            target: selector.describe(),
        });
    }
    let mut deleted = Vec::new();
    for &i in &matched {
        let res = &mut resources[i];
        match &patch.body {
            PatchBody::Strategic(p) => {
                let (group, kind) = (res.group().to_string(), res.kind().to_string());
                // The patch's own id only selects; it renames or re-kinds the
                // target only when the entry's options allow it.
                let mut p = p.clone();
                let mut new_name = None;
                if let Some(m) = p.as_object_mut() {
                    if !patch.options.allow_kind_change {
                        m.remove("kind");
                        m.remove("apiVersion");
                    }
                    if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                        let name = md.remove("name");
                        if patch.options.allow_name_change {
                            new_name = name.as_ref().and_then(Value::as_str).map(String::from);
                        }
                        md.remove("namespace");
                    }
                }
                if let Some(n) = new_name {
                    res.set_name(&n);
                }
                let ctx = smp::Context { schema, group: &group, kind: &kind };
                if smp::apply(&mut res.obj, &p, &ctx) == smp::Outcome::Deleted {
                    deleted.push(i);
                }
            }
            PatchBody::Json(ops) => {
                // kustomize round-trips the object through JSON here, so
                // nodes it shared become separate.
                res.aliases.clear();
                json6902::apply(&mut res.obj, ops).map_err(|e| KustomizeError::JsonPatch {
                    path: patch.source.clone(),
                    op: e.op,
                    pointer: e.pointer,
                    resource: res.describe(),
                    message: e.message,
                })?;
            }
        }
    }
    for i in deleted.into_iter().rev() {
        resources.remove(i);
    }
    Ok(())
}
