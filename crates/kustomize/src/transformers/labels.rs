//! Labels and annotations (`commonLabels`, `labels`, `commonAnnotations`,
//! and the LabelTransformer/AnnotationsTransformer plugins): string pairs
//! added wherever the field specs say.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::Result;
use crate::fieldspec::{visit_specs, FieldSpec};
use crate::resource::{ensure_object, Resource};

/// Adds `pairs` to the maps at `specs` in every resource.
pub fn add(resources: &mut [Resource], specs: &[FieldSpec], pairs: &BTreeMap<String, String>) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    for res in resources.iter_mut() {
        visit_specs(res, specs, &mut |v| {
            if v.is_null() || v.is_object() {
                let m = ensure_object(v);
                for (k, val) in pairs {
                    m.insert(k.clone(), Value::String(val.clone()));
                }
            }
            Ok(())
        })?;
    }
    Ok(())
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
}
