//! Transformer plugin configs listed under `transformers:`: kustomize's
//! built-in plugins configured by a YAML object (LabelTransformer,
//! AnnotationsTransformer, PrefixSuffixTransformer, NamespaceTransformer,
//! ImageTagTransformer, ReplicaCountTransformer, PatchTransformer,
//! PatchStrategicMergeTransformer, PatchJson6902Transformer,
//! ReplacementTransformer, ValueAddTransformer).

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::fieldspec::{visit, FieldSpec};
use crate::load::Loader;
use crate::kustomization::{string_map, ImageEntry, ReplicaEntry, Scalar};
use crate::patch::{self, schema::MergeSchema};
use crate::resource::Resource;
use crate::target::Selector;
use crate::transformers::{images, labels, names, namespace, replacements, replicas};

/// Where a plugin config came from and the kustomization root it acts for.
pub struct Site<'a> {
    pub file: &'a Path,
    pub root: &'a Path,
    pub schema: &'a MergeSchema,
    pub loader: &'a Loader<'a>,
}

fn parse<T: DeserializeOwned>(config: &Value, site: &Site) -> Result<T> {
    serde_json::from_value(config.clone()).map_err(|e| {
        KustomizeError::invalid(site.file, format!("invalid transformer config: {e}"))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MapTransformer {
    #[serde(default)]
    labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    annotations: BTreeMap<String, Scalar>,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
struct PrefixSuffix {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageTag {
    image_tag: ImageEntry,
}

#[derive(Deserialize)]
struct ReplicaCount {
    replica: ReplicaEntry,
    #[serde(default, rename = "fieldSpecs")]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
struct PatchConfig {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    patch: Option<String>,
    #[serde(default)]
    target: Option<Selector>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    patches: Option<String>,
}

#[derive(Deserialize)]
struct ReplacementConfig {
    #[serde(default)]
    replacements: Vec<replacements::Replacement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValueAddTarget {
    #[serde(default)]
    selector: Option<Selector>,
    field_path: String,
    #[serde(default)]
    file_path_position: Option<usize>,
}

#[derive(Deserialize)]
struct ValueAdd {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    targets: Vec<ValueAddTarget>,
}

/// Runs one transformer plugin config over the resources.
pub fn run(config: &Value, site: &Site, resources: &mut Vec<Resource>) -> Result<()> {
    let kind = config.get("kind").and_then(Value::as_str).unwrap_or("");
    match kind {
        "LabelTransformer" | "AnnotationsTransformer" => {
            let t: MapTransformer = parse(config, site)?;
            let pairs = if kind == "LabelTransformer" { &t.labels } else { &t.annotations };
            labels::add(resources, &t.field_specs, &string_map(pairs))
        }
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            let t: PrefixSuffix = parse(config, site)?;
            names::add_prefix_suffix(resources, &t.prefix, &t.suffix);
            Ok(())
        }
        "NamespaceTransformer" => {
            let ns = config
                .get("metadata")
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
                .unwrap_or("");
            namespace::set(resources, ns)
        }
        "ImageTagTransformer" => {
            let t: ImageTag = parse(config, site)?;
            images::apply(resources, &[], &[t.image_tag])
        }
        "ReplicaCountTransformer" => {
            let t: ReplicaCount = parse(config, site)?;
            replicas::set(resources, &t.field_specs, &[t.replica])
        }
        "PatchTransformer" | "PatchStrategicMergeTransformer" | "PatchJson6902Transformer" => {
            let t: PatchConfig = parse(config, site)?;
            let mut texts = Vec::new();
            for p in t.path.iter().chain(t.paths.iter()) {
                let file = site.loader.file_in(site.root, p)?;
                texts.push((site.loader.read_text(&file)?, file));
            }
            for inline in t.patch.iter().chain(t.patches.iter()) {
                texts.push((inline.clone(), site.file.to_path_buf()));
            }
            for (text, file) in texts {
                for p in patch::parse(&text, &file, t.target.clone())? {
                    patch::apply(resources, &p, site.schema)?;
                }
            }
            Ok(())
        }
        "ReplacementTransformer" => {
            let t: ReplacementConfig = parse(config, site)?;
            for r in &t.replacements {
                replacements::apply(resources, r, site.file)?;
            }
            Ok(())
        }
        "ValueAddTransformer" => {
            let t: ValueAdd = parse(config, site)?;
            let value = t.value.unwrap_or_else(|| {
                site.root
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            value_add(resources, &value, &t.targets, site)
        }
        other => Err(KustomizeError::Unsupported {
            path: site.file.to_path_buf(),
            what: format!("transformer kind {other:?}"),
        }),
    }
}

fn value_add(resources: &mut [Resource], value: &str, targets: &[ValueAddTarget], site: &Site) -> Result<()> {
    for t in targets {
        let segs = crate::fieldspec::split_path(&t.field_path);
        for res in resources.iter_mut() {
            if let Some(sel) = &t.selector {
                if !sel.matches(res).map_err(|m| KustomizeError::invalid(site.file, m))? {
                    continue;
                }
            }
            if segs == ["metadata", "namespace"] {
                res.set_namespace(value);
                continue;
            }
            visit(&mut res.obj, &segs, true, &mut |v| {
                *v = Value::String(match (t.file_path_position, v.as_str()) {
                    (Some(pos), Some(cur)) if pos > 0 => {
                        let mut parts: Vec<&str> = cur.split('/').filter(|p| !p.is_empty()).collect();
                        parts.insert((pos - 1).min(parts.len()), value);
                        parts.join("/")
                    }
                    _ => value.to_string(),
                });
                Ok(())
            })?;
        }
    }
    Ok(())
}
