//! `configMapGenerator` and `secretGenerator`: ConfigMaps and Secrets made
//! from literals, files and env files, created or merged into (or replacing)
//! ones from bases, marked for a content-hash name suffix.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{KustomizeError, Result};
use crate::kustomization::{string_map, GeneratorArgs, GeneratorOptions};
use crate::load::Loader;
use crate::resource::Resource;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    ConfigMap,
    Secret,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }
}

/// Runs one generator entry against the accumulated resources.
pub fn run(
    loader: &Loader,
    dir: &Path,
    kfile: &Path,
    kind: Kind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    resources: &mut Vec<Resource>,
) -> Result<()> {
    if args.name.is_empty() {
        return Err(KustomizeError::invalid(kfile, format!("a {} generator needs a name", kind.as_str())));
    }
    let (data, binary) = collect(loader, dir, kfile, args)?;
    let opts = merged_options(global, args.options.as_ref());
    let behavior = if args.behavior.is_empty() { "create" } else { args.behavior.as_str() };
    if behavior == "create" {
        let mut res = Resource::new(object(kind, args, &data, &binary, &opts));
        res.needs_hash = !opts.disable_name_suffix_hash.unwrap_or(false);
        resources.push(res);
        return Ok(());
    }
    let existing = resources.iter_mut().find(|r| {
        r.kind() == kind.as_str()
            && r.had_name(&args.name)
            && (args.namespace.is_empty() || r.had_namespace(&args.namespace))
    });
    let Some(existing) = existing else {
        return Err(KustomizeError::invalid(
            kfile,
            format!("{} {:?} with behavior {behavior} has no earlier {} of that name to act on", kind.as_str(), args.name, kind.as_str()),
        ));
    };
    let fresh = object(kind, args, &data, &binary, &opts);
    match behavior {
        "merge" => merge_into(&mut existing.obj, &fresh),
        "replace" => {
            let name = existing.name().to_string();
            let ns = existing.namespace().to_string();
            existing.obj = fresh;
            let md = existing.metadata_mut();
            md.insert("name".into(), Value::String(name));
            if !ns.is_empty() {
                md.insert("namespace".into(), Value::String(ns));
            }
        }
        other => {
            return Err(KustomizeError::invalid(
                kfile,
                format!("unknown generator behavior {other:?} (want create, merge or replace)"),
            ))
        }
    }
    if let Some(disable) = opts.disable_name_suffix_hash {
        existing.needs_hash = !disable;
    }
    Ok(())
}

fn merged_options(global: Option<&GeneratorOptions>, local: Option<&GeneratorOptions>) -> GeneratorOptions {
    let mut out = global.cloned().unwrap_or_default();
    if let Some(l) = local {
        out.labels.extend(l.labels.clone());
        out.annotations.extend(l.annotations.clone());
        if l.disable_name_suffix_hash.is_some() {
            out.disable_name_suffix_hash = l.disable_name_suffix_hash;
        }
        if l.immutable.is_some() {
            out.immutable = l.immutable;
        }
    }
    out
}

type Data = BTreeMap<String, String>;

/// Reads env files, literals and files, in that order, rejecting duplicate keys.
fn collect(loader: &Loader, dir: &Path, kfile: &Path, args: &GeneratorArgs) -> Result<(Data, Data)> {
    let mut data = Data::new();
    let mut binary = Data::new();
    let put = |data: &mut Data, k: String, v: String, from: &Path| -> Result<()> {
        if k.is_empty() {
            return Err(KustomizeError::invalid(from, "empty key in generator source"));
        }
        if data.insert(k.clone(), v).is_some() {
            return Err(KustomizeError::invalid(
                from,
                format!("generator {:?} has key {k:?} more than once", args.name),
            ));
        }
        Ok(())
    };
    for env in args.envs.iter().chain(args.env.iter()) {
        let path = loader.file_in(dir, env)?;
        let text = loader.read_text(&path)?;
        for line in text.lines() {
            let line = line.trim_start().trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            put(&mut data, k.trim().to_string(), v.to_string(), &path)?;
        }
    }
    for lit in &args.literals {
        let (k, v) = lit.split_once('=').ok_or_else(|| {
            KustomizeError::invalid(kfile, format!("literal {lit:?} is not key=value"))
        })?;
        put(&mut data, k.trim().to_string(), unquote(v).to_string(), kfile)?;
    }
    for f in &args.files {
        let (key, rel) = match f.split_once('=') {
            Some((k, p)) => (k.to_string(), p),
            None => {
                let base = Path::new(f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (base, f.as_str())
            }
        };
        let path = loader.file_in(dir, rel)?;
        let bytes = loader.read(&path)?;
        match String::from_utf8(bytes) {
            Ok(text) => put(&mut data, key, text, &path)?,
            Err(e) => put(&mut binary, key, base64(e.as_bytes()), &path)?,
        }
    }
    Ok((data, binary))
}

/// Strips one pair of matching surrounding quotes.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

fn object(kind: Kind, args: &GeneratorArgs, data: &Data, binary: &Data, opts: &GeneratorOptions) -> Value {
    let mut md = Map::new();
    md.insert("name".into(), json!(args.name));
    if !args.namespace.is_empty() {
        md.insert("namespace".into(), json!(args.namespace));
    }
    if !opts.labels.is_empty() {
        md.insert("labels".into(), json!(string_map(&opts.labels)));
    }
    if !opts.annotations.is_empty() {
        md.insert("annotations".into(), json!(string_map(&opts.annotations)));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!("v1"));
    obj.insert("kind".into(), json!(kind.as_str()));
    obj.insert("metadata".into(), Value::Object(md));
    match kind {
        Kind::ConfigMap => {
            if !data.is_empty() {
                obj.insert("data".into(), json!(data));
            }
            if !binary.is_empty() {
                obj.insert("binaryData".into(), json!(binary));
            }
        }
        Kind::Secret => {
            let mut all: Data = data.iter().map(|(k, v)| (k.clone(), base64(v.as_bytes()))).collect();
            all.extend(binary.clone());
            if !all.is_empty() {
                obj.insert("data".into(), json!(all));
            }
            let t = if args.secret_type.is_empty() { "Opaque" } else { args.secret_type.as_str() };
            obj.insert("type".into(), json!(t));
        }
    }
    if opts.immutable == Some(true) {
        obj.insert("immutable".into(), json!(true));
    }
    Value::Object(obj)
}

/// `behavior: merge`: data, binaryData, labels and annotations are merged,
/// the new values winning.
fn merge_into(existing: &mut Value, fresh: &Value) {
    for field in ["data", "binaryData"] {
        if let Some(Value::Object(new)) = fresh.get(field) {
            let slot = crate::resource::ensure_object(
                crate::resource::ensure_object(existing)
                    .entry(field)
                    .or_insert(Value::Null),
            );
            slot.extend(new.clone());
        }
    }
    for field in ["labels", "annotations"] {
        if let Some(Value::Object(new)) = fresh.get("metadata").and_then(|m| m.get(field)) {
            let md = crate::resource::ensure_object(
                crate::resource::ensure_object(existing)
                    .entry("metadata")
                    .or_insert(Value::Null),
            );
            crate::resource::ensure_object(md.entry(field).or_insert(Value::Null)).extend(new.clone());
        }
    }
    if let (Some(t), Some(obj)) = (fresh.get("type"), existing.as_object_mut()) {
        if t != "Opaque" {
            obj.insert("type".into(), t.clone());
        }
    }
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads_like_the_standard_alphabet() {
        assert_eq!(base64(b"dbpass\n"), "ZGJwYXNzCg==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn literal_values_lose_one_pair_of_quotes() {
        assert_eq!(unquote("\"false\""), "false");
        assert_eq!(unquote("'x'"), "x");
        assert_eq!(unquote("\"x"), "\"x");
    }
}
