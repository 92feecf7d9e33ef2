//! Labels and annotations (`commonLabels`, `labels`, `commonAnnotations`,
//! and the LabelTransformer/AnnotationsTransformer plugins): string pairs
//! added wherever the field specs say.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::Result;
use crate::fieldspec::{visit_at, FieldSpec};
use crate::resource::{ensure_object, Resource};

/// Adds `pairs` to the maps at `specs` in every resource.
///
/// Like kustomize, a value created in several places of one resource at
/// once is one shared node: when a later transform overwrites it where it
/// already exists, every place created together follows.
pub fn add(resources: &mut [Resource], specs: &[FieldSpec], pairs: &BTreeMap<String, String>) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    for res in resources.iter_mut() {
        let applicable: Vec<&FieldSpec> = specs.iter().filter(|s| s.applies_to(res)).collect();
        for (k, val) in pairs {
            let mut created = Vec::new();
            let mut updated = Vec::new();
            for spec in &applicable {
                visit_at(&mut res.obj, &spec.segments(), spec.create, &mut String::new(), &mut |v, ptr| {
                    if v.is_null() || v.is_object() {
                        let m = ensure_object(v);
                        let key_ptr = format!("{ptr}/{}", k.replace('~', "~0").replace('/', "~1"));
                        let old = m.insert(k.clone(), Value::String(val.clone()));
                        match old {
                            Some(old) => updated.push((key_ptr, old)),
                            None => created.push(key_ptr),
                        }
                    }
                    Ok(())
                })?;
            }
            propagate(res, &updated, val);
            if created.len() > 1 {
                res.aliases.push(created);
            }
        }
    }
    Ok(())
}

/// Rewrites the places that share a node with an overwritten value.
fn propagate(res: &mut Resource, updated: &[(String, Value)], val: &str) {
    for (ptr, old) in updated {
        let others: Vec<String> = res
            .aliases
            .iter()
            .filter(|g| g.contains(ptr))
            .flat_map(|g| g.iter().filter(|p| *p != ptr).cloned())
            .collect();
        for other in others {
            if let Some(slot) = res.obj.pointer_mut(&other) {
                if slot == old {
                    *slot = Value::String(val.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    #[test]
    fn common_labels_reach_selectors_and_templates() {
        let mut rs = vec![
            Resource::new(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"template": {"spec": {}}}})),
            Resource::new(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {}})),
        ];
        let pairs = BTreeMap::from([("app".to_string(), "x".to_string())]);
        add(&mut rs, &Config::defaults().common_labels, &pairs).unwrap();
        assert_eq!(rs[0].obj["spec"]["selector"]["matchLabels"]["app"], "x");
        assert_eq!(rs[0].obj["spec"]["template"]["metadata"]["labels"]["app"], "x");
        assert_eq!(rs[1].obj["spec"]["selector"]["app"], "x");
        assert_eq!(rs[1].obj["metadata"]["labels"]["app"], "x");
    }

    #[test]
    fn label_created_together_changes_together_when_overwritten_later() {
        let mut rs = vec![Resource::new(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d"}, "spec": {"template": {"spec": {}}}}))];
        let defaults = Config::defaults();
        add(&mut rs, &defaults.common_labels, &BTreeMap::from([("team".to_string(), "a".to_string())])).unwrap();
        let metadata_only = [FieldSpec::new("", "metadata/labels", true)];
        add(&mut rs, &metadata_only, &BTreeMap::from([("team".to_string(), "b".to_string())])).unwrap();
        assert_eq!(rs[0].obj["spec"]["selector"]["matchLabels"]["team"], "b");
        assert_eq!(rs[0].obj["spec"]["template"]["metadata"]["labels"]["team"], "b");
    }
}
