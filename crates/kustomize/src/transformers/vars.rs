//! Legacy `vars`: `$(NAME)` in the var-reference fields is replaced by a
//! field of another resource, read after every other transform and rename.

use std::path::PathBuf;

use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::fieldspec::{visit_specs, FieldSpec};
use crate::kustomization::Var;
use crate::resource::{split_api_version, Resource};
use crate::transformers::replacements::{get_path, split_field_path};

/// A var with the kustomization file that declared it.
#[derive(Debug, Clone)]
pub struct DeclaredVar {
    pub var: Var,
    pub file: PathBuf,
}

fn value_of(resources: &[Resource], dv: &DeclaredVar) -> Result<String> {
    let r = &dv.var.objref;
    let (group, version) = split_api_version(&r.api_version);
    let found: Vec<&Resource> = resources
        .iter()
        .filter(|res| {
            res.kind() == r.kind
                && res.had_name(&r.name)
                && (r.namespace.is_empty() || res.had_namespace(&r.namespace))
                && (r.api_version.is_empty()
                    || (res.version() == version && (group.is_empty() || res.group() == group)))
        })
        .collect();
    let res = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(KustomizeError::invalid(
                &dv.file,
                format!("var {} refers to {} {:?}, which is not among the resources", dv.var.name, r.kind, r.name),
            ))
        }
        _ => {
            return Err(KustomizeError::invalid(
                &dv.file,
                format!("var {} matches more than one {} {:?}", dv.var.name, r.kind, r.name),
            ))
        }
    };
    let path = dv
        .var
        .fieldref
        .as_ref()
        .map(|f| f.fieldpath.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or("metadata.name");
    let segs = split_field_path(path);
    match get_path(&res.obj, &segs) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(v.to_string()),
        _ => Err(KustomizeError::invalid(
            &dv.file,
            format!("var {}: {} has no scalar at {path}", dv.var.name, res.describe()),
        )),
    }
}

fn substitute(s: &mut String, values: &[(String, String)]) {
    if !s.contains("$(") {
        return;
    }
    for (name, value) in values {
        let pattern = format!("$({name})");
        if s.contains(&pattern) {
            *s = s.replace(&pattern, value);
        }
    }
}

fn substitute_value(v: &mut Value, values: &[(String, String)]) {
    match v {
        Value::String(s) => substitute(s, values),
        Value::Array(items) => items.iter_mut().for_each(|i| substitute_value(i, values)),
        Value::Object(m) => m.values_mut().for_each(|i| substitute_value(i, values)),
        _ => {}
    }
}

/// Resolves all vars in all resources.
pub fn resolve(resources: &mut [Resource], vars: &[DeclaredVar], specs: &[FieldSpec]) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values = Vec::new();
    for dv in vars {
        if values.iter().any(|(n, _): &(String, String)| *n == dv.var.name) {
            return Err(KustomizeError::invalid(&dv.file, format!("var {} is declared more than once", dv.var.name)));
        }
        values.push((dv.var.name.clone(), value_of(resources, dv)?));
    }
    for res in resources.iter_mut() {
        visit_specs(res, specs, &mut |v| {
            substitute_value(v, &values);
            Ok(())
        })?;
    }
    Ok(())
}
