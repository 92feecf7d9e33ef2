//! Helm's coalescing: chart defaults fill in what the user did not give; a user's
//! `null` deletes a default; `global` flows from a parent to every subchart.

use tug_gotemplate::{Map, Value};

use crate::loader::Chart;

/// Coalesces `chart`'s defaults (and, recursively, its subcharts') under `values`,
/// which it changes in place and which wins wherever both have a key.
pub fn coalesce(chart: &Chart, values: &Map) {
    if let Value::Map(defaults) = &chart.values {
        for (key, default) in defaults.entries() {
            match values.get(&key) {
                None => values.insert(key, default.deep_copy()),
                Some(Value::Nil) => {
                    values.remove(&key);
                }
                Some(Value::Map(given)) => {
                    if let Value::Map(d) = &default {
                        coalesce_tables(&given, d);
                    }
                }
                Some(_) => {}
            }
        }
    }
    for sub in &chart.dependencies {
        let sub_values = match values.get(sub.name()) {
            Some(Value::Map(m)) => m,
            _ => {
                let m = Map::new();
                values.insert(sub.name(), Value::Map(m.clone()));
                m
            }
        };
        coalesce_globals(&sub_values, values);
        coalesce(sub, &sub_values);
    }
}

/// Fills `dst` from `src` where `dst` has no key; a `null` in `dst` deletes the key.
pub fn coalesce_tables(dst: &Map, src: &Map) {
    for (key, sv) in src.entries() {
        match dst.get(&key) {
            None => dst.insert(key, sv.deep_copy()),
            Some(Value::Nil) => {
                dst.remove(&key);
            }
            Some(Value::Map(dv)) => {
                if let Value::Map(s) = &sv {
                    coalesce_tables(&dv, s);
                }
            }
            Some(_) => {}
        }
    }
}

/// Copies the parent's `global` into the subchart's, the parent winning.
fn coalesce_globals(dest: &Map, parent: &Map) {
    let Some(Value::Map(pg)) = parent.get("global") else {
        return;
    };
    let dg = match dest.get("global") {
        Some(Value::Map(m)) => m,
        _ => Map::new(),
    };
    for (key, pv) in pg.entries() {
        match (&pv, dg.get(&key)) {
            (Value::Map(p), Some(Value::Map(d))) => {
                let merged = Value::Map(p.clone()).deep_copy();
                if let Value::Map(mm) = &merged {
                    coalesce_tables(mm, &d);
                }
                dg.insert(key, merged);
            }
            _ => dg.insert(key, pv.deep_copy()),
        }
    }
    dest.insert("global", Value::Map(dg));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{from_files, ChartFile};

    fn chart(name: &str, values: &str, deps: Vec<Chart>) -> Chart {
        let mut c = from_files(vec![
            ChartFile {
                name: "Chart.yaml".into(),
                data: format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n").into_bytes().into(),
            },
            ChartFile {
                name: "values.yaml".into(),
                data: values.as_bytes().to_vec().into(),
            },
        ])
        .unwrap();
        c.dependencies = deps;
        c
    }

    fn yaml(s: &str) -> Map {
        match tug_gotemplate::funcs::yaml::from_yaml(s).unwrap() {
            Value::Map(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn user_values_win_and_null_deletes() {
        let c = chart("app", "a: 1\nb: {x: 1, y: 2}\nc: 3\n", vec![]);
        let v = yaml("a: 9\nb: {y: null}\nc: null\n");
        coalesce(&c, &v);
        assert_eq!(
            Value::Map(v).to_json(),
            serde_json::json!({"a": 9.0, "b": {"x": 1.0}})
        );
    }

    #[test]
    fn globals_reach_subcharts_and_parent_overrides_subchart_defaults() {
        let sub = chart(
            "sub",
            "global: {g: 0, keep: 1}\nport: 80\nname: sub\n",
            vec![],
        );
        let c = chart("app", "global: {g: 5}\nsub: {port: 8080}\n", vec![sub]);
        let v = Map::new();
        coalesce(&c, &v);
        assert_eq!(
            Value::Map(v).to_json(),
            serde_json::json!({"global": {"g": 5.0}, "sub": {"global": {"g": 5.0, "keep": 1.0}, "port": 8080.0, "name": "sub"}})
        );
    }
}
