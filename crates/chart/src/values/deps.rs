//! Dependencies: checking they are present, renaming by `alias`, enabling by
//! `condition` and `tags`, and `import-values` from a subchart into its parent.

use tug_gotemplate::funcs::semver::{Constraints, Version};
use tug_gotemplate::{Map, Value};

use super::{coalesce, coalesce_tables, path_value};
use crate::chartfile::Dependency;
use crate::loader::Chart;
use crate::Error;

/// The chart as it will render with these user values: every declared dependency
/// present (else an error), aliases applied, disabled ones removed, imports merged
/// into the parents' values.
pub fn process(chart: &Chart, user: &Map) -> Result<Chart, Error> {
    let mut c = resolve(chart)?;
    let all = Map::new();
    super::merge_maps(&all, user);
    coalesce(&c, &all);
    let top = Value::Map(all);
    enable(&mut c, &top, "");
    import_values(&mut c);
    Ok(c)
}

fn compatible(dep: &Dependency, chart: &Chart) -> bool {
    if dep.version.is_empty() {
        return true;
    }
    match (
        Constraints::parse(&dep.version),
        Version::parse(&chart.metadata.version),
    ) {
        (Ok(c), Ok(v)) => c.check(&v),
        _ => dep.version == chart.metadata.version,
    }
}

/// Checks presence and applies aliases, recursively. Declared dependencies come
/// first in declaration order, then subcharts no entry declares.
fn resolve(chart: &Chart) -> Result<Chart, Error> {
    let mut missing = Vec::new();
    let mut deps = Vec::new();
    for d in &chart.metadata.dependencies {
        match chart
            .dependencies
            .iter()
            .find(|c| c.name() == d.name && compatible(d, c))
        {
            Some(sub) => {
                let mut sub = sub.clone();
                if !d.alias.is_empty() {
                    sub.metadata.name = d.alias.clone();
                }
                deps.push(resolve(&sub)?);
            }
            None => missing.push(d.name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(Error::MissingDependency(missing.join(", ")));
    }
    for sub in &chart.dependencies {
        if !chart
            .metadata
            .dependencies
            .iter()
            .any(|d| d.name == sub.name())
        {
            deps.push(resolve(sub)?);
        }
    }
    let mut c = chart.clone();
    c.dependencies = deps;
    for d in &mut c.metadata.dependencies {
        if !d.alias.is_empty() {
            d.name = d.alias.clone();
        }
    }
    Ok(c)
}

/// Removes subcharts turned off by their `condition` (the first of its comma-separated
/// paths that holds a boolean decides) or, without one, by `tags` (any true tag
/// enables, else any false tag disables).
fn enable(chart: &mut Chart, top: &Value, path: &str) {
    let tags = path_value(top, "tags");
    let decided = |d: &Dependency| -> Option<bool> {
        for cond in d
            .condition
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            if let Some(Value::Bool(b)) = path_value(top, &format!("{path}{cond}")) {
                return Some(b);
            }
        }
        let mut any = None;
        for t in &d.tags {
            if let Some(Value::Bool(b)) = tags.as_ref().and_then(|m| path_value(m, t)) {
                if b {
                    return Some(true);
                }
                any = Some(false);
            }
        }
        any
    };
    let disabled: Vec<String> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| decided(d) == Some(false))
        .map(|d| d.name.clone())
        .collect();
    chart
        .dependencies
        .retain(|c| !disabled.iter().any(|n| n == c.name()));
    chart
        .metadata
        .dependencies
        .retain(|d| !disabled.contains(&d.name));
    for sub in &mut chart.dependencies {
        let sub_path = format!("{path}{}.", sub.name());
        enable(sub, top, &sub_path);
    }
}

/// Merges each dependency's `import-values` into the parent's values, deepest first.
/// An entry is a string `x` (the child's `exports.x`, merged at the parent's root) or
/// `{child: a.b, parent: c.d}`. The parent's own values win over imported ones.
fn import_values(chart: &mut Chart) {
    for sub in &mut chart.dependencies {
        import_values(sub);
    }
    let imports: Vec<(String, Vec<serde_json::Value>)> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !d.import_values.is_empty())
        .map(|d| (d.name.clone(), d.import_values.clone()))
        .collect();
    if imports.is_empty() {
        return;
    }
    let all = Map::new();
    coalesce(chart, &all);
    let all = Value::Map(all);
    let imported = Map::new();
    for (name, entries) in imports {
        for e in entries {
            let (child, parent) = match &e {
                serde_json::Value::String(s) => (format!("exports.{s}"), String::new()),
                serde_json::Value::Object(o) => (
                    o.get("child")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string(),
                    o.get("parent")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string(),
                ),
                _ => continue,
            };
            let Some(Value::Map(found)) = path_value(&all, &format!("{name}.{child}")) else {
                continue;
            };
            let target = parent.trim_start_matches('.');
            let mut node = Value::Map(found).deep_copy();
            for part in target.rsplit('.').filter(|p| !p.is_empty()) {
                let m = Map::new();
                m.insert(part, node);
                node = Value::Map(m);
            }
            if let Value::Map(m) = node {
                super::merge_maps(&imported, &m);
            }
        }
    }
    let own = match &chart.values {
        Value::Map(m) => m.clone(),
        _ => Map::new(),
    };
    let merged = Value::Map(own).deep_copy();
    if let Value::Map(m) = &merged {
        coalesce_tables(m, &imported);
    }
    chart.values = merged;
}
