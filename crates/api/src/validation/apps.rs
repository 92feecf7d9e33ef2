//! Validation of the apps/v1 workload specs beyond the selector (in the parent module):
//! `spec.replicas` never negative, and a Deployment's strategy — `maxSurge` and
//! `maxUnavailable` numbers or percentages, not both zero, `maxUnavailable` at most 100%,
//! no `rollingUpdate` under Recreate — worded as the Kubernetes API server words it.

use serde_json::{Map, Value};

use super::stateful::at_least;
use super::{ErrorType, FieldError};

/// Checks the apps/v1 `kind`'s spec.
pub(super) fn validate(kind: &str, spec: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    // StatefulSets and DaemonSets are checked in `stateful`.
    if matches!(kind, "Deployment" | "ReplicaSet") {
        at_least(spec, "spec", "replicas", 0, errors);
        at_least(spec, "spec", "minReadySeconds", 0, errors);
    }
    if kind == "Deployment" {
        at_least(spec, "spec", "revisionHistoryLimit", 0, errors);
        strategy(spec, errors);
    }
}

/// An IntOrString count: a non-negative number, or a percentage (`[0-9]+%`); the percent
/// when it is one.
fn int_or_percent(value: &Value, field: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    match value {
        Value::Number(n) => {
            if n.as_i64().is_some_and(|n| n < 0) {
                errors.push(FieldError::invalid(field, value, "must be greater than or equal to 0"));
            }
            n.as_i64()
        }
        Value::String(s) => match s.strip_suffix('%').filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            Some(p) => p.parse().ok(),
            None => {
                errors.push(FieldError::invalid(
                    field,
                    value,
                    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                ));
                None
            }
        },
        _ => None,
    }
}

fn strategy(spec: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    let Some(strategy) = spec.get("strategy").and_then(Value::as_object) else {
        return;
    };
    let rolling = strategy.get("rollingUpdate").filter(|r| !r.is_null());
    match strategy.get("type").and_then(Value::as_str) {
        Some("Recreate") => {
            if rolling.is_some() {
                errors.push(FieldError {
                    field: "spec.strategy.rollingUpdate".into(),
                    kind: ErrorType::Forbidden,
                    value: String::new(),
                    detail: "may not be specified when strategy `type` is 'Recreate'".into(),
                });
            }
        }
        Some("RollingUpdate") | None => {}
        Some(other) => errors.push(FieldError {
            field: "spec.strategy.type".into(),
            kind: ErrorType::NotSupported,
            value: format!("{other:?}"),
            detail: "supported values: \"Recreate\", \"RollingUpdate\"".into(),
        }),
    }
    let Some(rolling) = rolling.and_then(Value::as_object) else {
        return;
    };
    let surge_path = "spec.strategy.rollingUpdate.maxSurge";
    let unavailable_path = "spec.strategy.rollingUpdate.maxUnavailable";
    let surge = rolling.get("maxSurge").map(|v| (v, int_or_percent(v, surge_path, errors)));
    let unavailable = rolling.get("maxUnavailable").map(|v| (v, int_or_percent(v, unavailable_path, errors)));
    if let Some((v, Some(p))) = unavailable {
        if v.is_string() && p > 100 {
            errors.push(FieldError::invalid(unavailable_path, v, "must not be greater than 100%"));
        }
    }
    if let (Some((_, Some(0))), Some((v, Some(0)))) = (surge, unavailable) {
        errors.push(FieldError::invalid(unavailable_path, v, "may not be 0 when `maxSurge` is 0"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(kind: &str, spec: Value) -> Vec<String> {
        let mut out = Vec::new();
        validate(kind, spec.as_object().unwrap(), &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn replicas_may_not_be_negative() {
        assert_eq!(errors("ReplicaSet", json!({"replicas": -1})), ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]);
        assert!(errors("Deployment", json!({"replicas": 0})).is_empty());
    }

    #[test]
    fn surge_and_unavailable_are_counts_or_percentages_not_both_zero() {
        let rolling = |r: Value| errors("Deployment", json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": r}}));
        assert_eq!(
            rolling(json!({"maxSurge": "abc"})),
            ["spec.strategy.rollingUpdate.maxSurge: Invalid value: \"abc\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"]
        );
        assert_eq!(rolling(json!({"maxSurge": 0, "maxUnavailable": "0%"})), ["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0"]);
        assert_eq!(rolling(json!({"maxUnavailable": "150%"})), ["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"]);
        assert_eq!(rolling(json!({"maxSurge": -1})), ["spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0"]);
        assert!(rolling(json!({"maxSurge": "50%", "maxUnavailable": 0})).is_empty());
        assert_eq!(
            errors("Deployment", json!({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}})),
            ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]
        );
    }
}
