//! Validation of the policy objects admission reads: ResourceQuota (`spec.hard` amounts and
//! names, `spec.scopes`) and LimitRange (`spec.limits[*]` types, amounts and their order
//! min ≤ defaultRequest ≤ default ≤ max, limit/request ratios of at least 1).

use serde_json::{Map, Value};

use super::{ErrorType, FieldError};
use crate::quantity::Quantity;

const SCOPES: [&str; 6] = [
    "BestEffort",
    "NotBestEffort",
    "Terminating",
    "NotTerminating",
    "PriorityClass",
    "CrossNamespacePodAffinity",
];

const LIMIT_TYPES: [&str; 3] = ["Pod", "Container", "PersistentVolumeClaim"];

/// A resource list's amounts, checked: each a non-negative quantity. Returns the parsed list.
fn resource_list(
    value: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<(String, Quantity)> {
    let mut parsed = Vec::new();
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return parsed;
    };
    let Some(map) = value.as_object() else {
        errors.push(FieldError::invalid(
            path,
            value,
            "must be a map of resource names to quantities",
        ));
        return parsed;
    };
    for (name, amount) in map {
        let field = format!("{path}[{name}]");
        if !name.contains('/')
            && name.contains(|c: char| {
                !(c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
            })
        {
            errors.push(FieldError::invalid(
                &field,
                &Value::String(name.clone()),
                "must be a standard resource type or fully qualified",
            ));
            continue;
        }
        let text = match amount {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        match Quantity::parse(&text) {
            Ok(q) if q < Quantity::default() => errors.push(FieldError::invalid(
                &field,
                &Value::String(text),
                "must be greater than or equal to 0",
            )),
            Ok(q) => parsed.push((name.clone(), q)),
            Err(e) => errors.push(FieldError::invalid(
                &field,
                &Value::String(text),
                e.to_string(),
            )),
        }
    }
    parsed
}

/// A ResourceQuota's spec.
pub(super) fn resource_quota(spec: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    resource_list(spec.get("hard"), "spec.hard", errors);
    for (i, scope) in spec
        .get("scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !scope.as_str().is_some_and(|s| SCOPES.contains(&s)) {
            errors.push(FieldError {
                field: format!("spec.scopes[{i}]"),
                kind: ErrorType::NotSupported,
                value: scope.to_string(),
                detail: format!(
                    "supported values: {}",
                    SCOPES.map(|s| format!("\"{s}\"")).join(", ")
                ),
            });
        }
    }
}

/// A LimitRange's spec.
pub(super) fn limit_range(spec: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    for (i, item) in spec
        .get("limits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("spec.limits[{i}]");
        match item.get("type").and_then(Value::as_str) {
            None | Some("") => errors.push(FieldError::required(format!("{path}.type"), "")),
            Some(t) if !LIMIT_TYPES.contains(&t) => errors.push(FieldError {
                field: format!("{path}.type"),
                kind: ErrorType::NotSupported,
                value: format!("\"{t}\""),
                detail: "supported values: \"Container\", \"PersistentVolumeClaim\", \"Pod\""
                    .into(),
            }),
            Some(_) => {}
        }
        let list = |name: &str, errors: &mut Vec<FieldError>| {
            resource_list(item.get(name), &format!("{path}.{name}"), errors)
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let min = list("min", errors);
        let max = list("max", errors);
        let default = list("default", errors);
        let default_request = list("defaultRequest", errors);
        let ratio = list("maxLimitRequestRatio", errors);
        let mut order = |field: &str, name: &str, value: Quantity, detail: String| {
            errors.push(FieldError::invalid(
                format!("{path}.{field}[{name}]"),
                &Value::String(value.to_string()),
                detail,
            ));
        };
        for (name, q) in &min {
            if let Some(m) = max.get(name).filter(|m| q > *m) {
                order(
                    "min",
                    name,
                    *q,
                    format!("min value {q} is greater than max value {m}"),
                );
            }
        }
        for (name, d) in &default {
            if let Some(m) = max.get(name).filter(|m| d > *m) {
                order(
                    "default",
                    name,
                    *d,
                    format!("default value {d} is greater than max value {m}"),
                );
            }
            if let Some(m) = min.get(name).filter(|m| d < *m) {
                order(
                    "default",
                    name,
                    *d,
                    format!("min value {m} is greater than default value {d}"),
                );
            }
        }
        for (name, r) in &default_request {
            if let Some(d) = default.get(name).filter(|d| r > *d) {
                order(
                    "defaultRequest",
                    name,
                    *r,
                    format!("default request value {r} is greater than default limit value {d}"),
                );
            }
            if let Some(m) = max.get(name).filter(|m| r > *m) {
                order(
                    "defaultRequest",
                    name,
                    *r,
                    format!("default request value {r} is greater than max value {m}"),
                );
            }
            if let Some(m) = min.get(name).filter(|m| r < *m) {
                order(
                    "defaultRequest",
                    name,
                    *r,
                    format!("min value {m} is greater than default request value {r}"),
                );
            }
        }
        for (name, r) in &ratio {
            if *r < Quantity::parse("1").unwrap_or_default() {
                order(
                    "maxLimitRequestRatio",
                    name,
                    *r,
                    format!("ratio {r} is less than 1"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors_of(f: fn(&Map<String, Value>, &mut Vec<FieldError>), spec: Value) -> Vec<String> {
        let mut errors = Vec::new();
        f(spec.as_object().unwrap(), &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn quota_amounts_must_be_quantities() {
        let errors = errors_of(
            resource_quota,
            json!({"hard": {"pods": "ten", "requests.cpu": "-1", "count/deployments.apps": "2"}, "scopes": ["Sometimes"]}),
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("spec.hard[pods]: Invalid value: \"ten\": quantities must match"),
            "{errors:?}"
        );
        assert_eq!(
            errors[1],
            "spec.hard[requests.cpu]: Invalid value: \"-1\": must be greater than or equal to 0"
        );
        assert!(errors[2].starts_with("spec.scopes[0]: Unsupported value: \"Sometimes\""));
    }

    #[test]
    fn limit_ranges_keep_min_below_max() {
        let errors = errors_of(
            limit_range,
            json!({"limits": [
                {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}, "default": {"memory": "1Gi"}, "defaultRequest": {"memory": "2Gi"}},
                {"type": "Node", "maxLimitRequestRatio": {"cpu": "500m"}}
            ]}),
        );
        assert_eq!(errors, [
            "spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1",
            "spec.limits[0].defaultRequest[memory]: Invalid value: \"2Gi\": default request value 2Gi is greater than default limit value 1Gi",
            "spec.limits[1].type: Unsupported value: \"Node\": supported values: \"Container\", \"PersistentVolumeClaim\", \"Pod\"",
            "spec.limits[1].maxLimitRequestRatio[cpu]: Invalid value: \"500m\": ratio 500m is less than 1",
        ]);
    }
}
