//! `images`: changes the name, tag or digest of container images. Every
//! `image` of a `containers`/`initContainers` list anywhere in an object is
//! considered, plus the image fields `configurations` declare.

use serde_json::Value;

use crate::error::Result;
use crate::fieldspec::{visit_specs, FieldSpec};
use crate::kustomization::ImageEntry;
use crate::resource::Resource;

/// Splits `name[:tag][@digest]` into (name, tag, digest).
fn split(image: &str) -> (&str, &str, &str) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, d),
        None => (image, ""),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], &rest[slash + i + 1..], digest),
        None => (rest, "", digest),
    }
}

/// The new image string if `entry` applies to `image`.
pub fn rewrite(image: &str, entry: &ImageEntry) -> Option<String> {
    let (name, tag, digest) = split(image);
    if name != entry.name {
        return None;
    }
    let new_name = if entry.new_name.is_empty() { name } else { entry.new_name.as_str() };
    let new_tag = entry.new_tag.as_ref().map(|t| t.as_string());
    let suffix = if !entry.digest.is_empty() {
        format!("@{}", entry.digest)
    } else if let Some(t) = new_tag {
        format!(":{t}{}", entry.tag_suffix)
    } else {
        let mut s = String::new();
        if !tag.is_empty() {
            s.push(':');
            s.push_str(tag);
            s.push_str(&entry.tag_suffix);
        }
        if !digest.is_empty() {
            s.push('@');
            s.push_str(digest);
        }
        s
    };
    Some(format!("{new_name}{suffix}"))
}

fn update_string(v: &mut Value, entries: &[ImageEntry]) {
    if let Value::String(s) = v {
        if let Some(new) = entries.iter().find_map(|e| rewrite(s, e)) {
            *s = new;
        }
    }
}

fn walk_containers(v: &mut Value, entries: &[ImageEntry]) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if matches!(k.as_str(), "containers" | "initContainers") {
                    if let Value::Array(items) = child {
                        for c in items.iter_mut() {
                            if let Some(img) = c.get_mut("image") {
                                update_string(img, entries);
                            }
                        }
                    }
                }
                walk_containers(child, entries);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| walk_containers(i, entries)),
        _ => {}
    }
}

pub fn apply(resources: &mut [Resource], specs: &[FieldSpec], entries: &[ImageEntry]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    for res in resources.iter_mut() {
        walk_containers(&mut res.obj, entries);
        visit_specs(res, specs, &mut |v| {
            update_string(v, entries);
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomization::Scalar;

    fn entry(name: &str, new_name: &str, tag: Option<&str>, digest: &str) -> ImageEntry {
        ImageEntry {
            name: name.into(),
            new_name: new_name.into(),
            new_tag: tag.map(|t| Scalar::Str(t.into())),
            digest: digest.into(),
            tag_suffix: String::new(),
        }
    }

    #[test]
    fn name_tag_and_digest_are_rewritten() {
        assert_eq!(rewrite("busybox:1.29", &entry("busybox", "alpine", Some("3.6"), "")).as_deref(), Some("alpine:3.6"));
        assert_eq!(rewrite("nginx", &entry("nginx", "", Some("1.8.0"), "")).as_deref(), Some("nginx:1.8.0"));
        assert_eq!(rewrite("alpine:3", &entry("alpine", "", None, "sha256:ab")).as_deref(), Some("alpine@sha256:ab"));
        assert_eq!(rewrite("reg:5000/app:v1", &entry("reg:5000/app", "my/app", None, "")).as_deref(), Some("my/app:v1"));
        assert_eq!(rewrite("other:1", &entry("nginx", "x", None, "")), None);
    }
}
