//! `values.schema.json`: each chart's values checked against its schema (a
//! subchart against its part of the values), all failures reported together.

use std::collections::HashMap;

use tug_gotemplate::Value;

use crate::loader::Chart;
use crate::Error;

/// What the schemas of a chart and its subcharts are to check: each chart's view of
/// the values as JSON, taken at one moment, so the check may run while templates
/// (which can change values) execute.
pub struct Snapshot<'c>(Vec<(&'c Chart, serde_json::Value)>);

/// The values each schema of `chart` (and, recursively, of its subcharts) checks.
pub fn snapshot<'c>(chart: &'c Chart, values: &Value) -> Snapshot<'c> {
    let mut out = Vec::new();
    collect(chart, values, &mut out);
    Snapshot(out)
}

fn collect<'c>(chart: &'c Chart, values: &Value, out: &mut Vec<(&'c Chart, serde_json::Value)>) {
    if chart.schema.is_some() {
        out.push((chart, whole_numbers_as_integers(values.to_json())));
    }
    for sub in &chart.dependencies {
        let sub_values = match values {
            Value::Map(m) => m.get(sub.name()).unwrap_or_else(Value::empty_map),
            _ => Value::empty_map(),
        };
        collect(sub, &sub_values, out);
    }
}

/// Each schema text, compiled (or why it is not a schema).
type Validators = HashMap<String, Result<jsonschema::Validator, String>>;

/// The schemas of a chart and its subcharts, being compiled on the helper thread while
/// the chart is processed and parsed: the first schema of a process takes more than
/// 1 ms, as it is checked against its draft's meta-schema, compiled first.
pub struct Compiling(crate::parallel::Ahead<Validators>);

/// Starts compiling the schemas of `chart` and of all its subcharts.
pub fn compile(chart: &Chart) -> Compiling {
    let mut texts = Vec::new();
    schema_texts(chart, &mut texts);
    Compiling(crate::parallel::ahead(move || {
        texts
            .into_iter()
            .map(|text| {
                let validator = compile_one(&text);
                (text, validator)
            })
            .collect()
    }))
}

fn schema_texts(chart: &Chart, out: &mut Vec<String>) {
    out.extend(chart.schema.clone());
    chart.dependencies.iter().for_each(|sub| schema_texts(sub, out));
}

fn compile_one(text: &str) -> Result<jsonschema::Validator, String> {
    let schema: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    jsonschema::validator_for(&schema).map_err(|e| e.to_string())
}

impl Snapshot<'_> {
    /// Validates each chart's values against its schema; every failure is reported
    /// together, chart by chart.
    pub fn check(self, compiling: Compiling) -> Result<(), Error> {
        let mut validators = compiling.0.wait();
        let mut report = String::new();
        for (chart, instance) in self.0 {
            check_one(chart, &mut validators, &instance, &mut report)?;
        }
        if report.is_empty() {
            Ok(())
        } else {
            Err(Error::Schema(report))
        }
    }
}

/// Values files decode numbers as floats; `3.0` must still pass `type: integer` and
/// read `3` in messages, as in Helm.
fn whole_numbers_as_integers(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9e15 => J::from(f as i64),
            _ => J::Number(n),
        },
        J::Array(a) => J::Array(a.into_iter().map(whole_numbers_as_integers).collect()),
        J::Object(o) => J::Object(
            o.into_iter()
                .map(|(k, v)| (k, whole_numbers_as_integers(v)))
                .collect(),
        ),
        v => v,
    }
}

fn check_one(
    chart: &Chart,
    validators: &mut Validators,
    instance: &serde_json::Value,
    report: &mut String,
) -> Result<(), Error> {
    let Some(text) = &chart.schema else {
        return Ok(());
    };
    let validator = validators
        .entry(text.clone())
        .or_insert_with(|| compile_one(text))
        .as_ref()
        .map_err(|msg| Error::Parse {
            file: format!("{}/values.schema.json", chart.name()),
            msg: msg.clone(),
        })?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() {
                "(root)".to_string()
            } else {
                path.trim_start_matches('/').replace('/', ".")
            };
            format!("- {at}: {e}\n")
        })
        .collect();
    if !errors.is_empty() {
        report.push_str(&format!("{}:\n", chart.name()));
        errors.iter().for_each(|e| report.push_str(e));
    }
    Ok(())
}
