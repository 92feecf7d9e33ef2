//! Field checks for StatefulSets, DaemonSets, Jobs and CronJobs beyond the selector and
//! template checks all workloads share, worded as the Kubernetes API server words them.

use serde_json::{Map, Value};

use super::{template, ErrorType, FieldError};
use crate::cron;

fn not_supported(field: String, value: &Value, supported: &[&str]) -> FieldError {
    let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
    FieldError { field, kind: ErrorType::NotSupported, value: value.to_string(), detail: format!("supported values: {}", list.join(", ")) }
}

/// An integer field that must be at least `min` when present.
pub(super) fn at_least(spec: &Map<String, Value>, path: &str, name: &str, min: i64, errors: &mut Vec<FieldError>) {
    if let Some(value) = spec.get(name).filter(|v| !v.is_null()) {
        if value.as_i64().is_none_or(|n| n < min) {
            let detail = match min {
                0 => "must be greater than or equal to 0".to_string(),
                1 => "must be greater than 0".to_string(),
                n => format!("must be greater than or equal to {n}"),
            };
            errors.push(FieldError::invalid(format!("{path}.{name}"), value, detail));
        }
    }
}

fn one_of(spec: &Map<String, Value>, path: &str, supported: &[&str], errors: &mut Vec<FieldError>) {
    let mut value = Some(spec);
    let mut last = None;
    for part in path.split('.') {
        last = value.and_then(|v| v.get(part));
        value = last.and_then(Value::as_object);
    }
    if let Some(v) = last.filter(|v| !v.is_null()) {
        if !v.as_str().is_some_and(|s| supported.contains(&s)) {
            errors.push(not_supported(format!("spec.{path}"), v, supported));
        }
    }
}

/// StatefulSet and DaemonSet specifics.
pub(super) fn apps(kind: &str, spec: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    match kind {
        "StatefulSet" => {
            if spec.get("serviceName").and_then(Value::as_str).is_none_or(str::is_empty) {
                errors.push(FieldError::required("spec.serviceName", "the name of the headless Service that gives the pods their DNS names"));
            }
            at_least(spec, "spec", "replicas", 0, errors);
            one_of(spec, "podManagementPolicy", &["OrderedReady", "Parallel"], errors);
            one_of(spec, "updateStrategy.type", &["RollingUpdate", "OnDelete"], errors);
            if let Some(rolling) = spec.get("updateStrategy").and_then(|u| u.get("rollingUpdate")).and_then(Value::as_object) {
                at_least(rolling, "spec.updateStrategy.rollingUpdate", "partition", 0, errors);
            }
            one_of(spec, "persistentVolumeClaimRetentionPolicy.whenDeleted", &["Retain", "Delete"], errors);
            one_of(spec, "persistentVolumeClaimRetentionPolicy.whenScaled", &["Retain", "Delete"], errors);
            for (i, claim) in spec.get("volumeClaimTemplates").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let name = claim.pointer("/metadata/name");
                if name.and_then(Value::as_str).is_none_or(str::is_empty) {
                    errors.push(FieldError::required(format!("spec.volumeClaimTemplates[{i}].metadata.name"), ""));
                }
            }
        }
        "DaemonSet" => one_of(spec, "updateStrategy.type", &["RollingUpdate", "OnDelete"], errors),
        _ => {}
    }
}

/// A Job's spec at `path` (`spec`, or `spec.jobTemplate.spec` in a CronJob).
pub(super) fn job(spec: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    for name in ["parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"] {
        at_least(spec, path, name, 0, errors);
    }
    at_least(spec, path, "activeDeadlineSeconds", 1, errors);
    template(spec, &format!("{path}.template"), errors);
    let policy = spec.get("template").and_then(|t| t.pointer("/spec/restartPolicy"));
    if let Some(policy) = policy.filter(|p| !matches!(p.as_str(), Some("OnFailure" | "Never"))) {
        errors.push(not_supported(format!("{path}.template.spec.restartPolicy"), policy, &["OnFailure", "Never"]));
    }
}

/// A CronJob's spec.
pub(super) fn cron_job(spec: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    match spec.get("schedule") {
        Some(Value::String(s)) if !s.is_empty() => {
            if let Err(problem) = cron::parse(s) {
                errors.push(FieldError::invalid("spec.schedule", &Value::String(s.clone()), problem));
            }
        }
        _ => errors.push(FieldError::required("spec.schedule", "")),
    }
    one_of(spec, "concurrencyPolicy", &["Allow", "Forbid", "Replace"], errors);
    for name in ["startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        at_least(spec, "spec", name, 0, errors);
    }
    match spec.get("jobTemplate").and_then(|t| t.get("spec")).and_then(Value::as_object) {
        Some(job_spec) => job(job_spec, "spec.jobTemplate.spec", errors),
        None => errors.push(FieldError::required("spec.jobTemplate.spec.template", "")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::registry::by_kind;
    use crate::validation::validate;

    fn errors(api_version: &str, kind: &str, spec: serde_json::Value) -> Vec<String> {
        let object = json!({"metadata": {"name": "x"}, "spec": spec});
        validate(by_kind(api_version, kind).unwrap(), &object).into_iter().map(|e| e.to_string()).collect()
    }

    fn pod_template(restart: &str) -> serde_json::Value {
        json!({"metadata": {"labels": {"app": "x"}}, "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "busybox"}]}})
    }

    #[test]
    fn statefulsets_need_a_service_name_and_sane_numbers() {
        let got = errors("apps/v1", "StatefulSet", json!({"replicas": -1, "selector": {"matchLabels": {"app": "x"}}, "template": pod_template("Always"),
            "podManagementPolicy": "Sometimes", "volumeClaimTemplates": [{"metadata": {}}]}));
        assert_eq!(got, [
            "spec.serviceName: Required value: the name of the headless Service that gives the pods their DNS names",
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.podManagementPolicy: Unsupported value: \"Sometimes\": supported values: \"OrderedReady\", \"Parallel\"",
            "spec.volumeClaimTemplates[0].metadata.name: Required value",
        ]);
    }

    #[test]
    fn jobs_reject_negative_counts_and_restart_always() {
        let got = errors("batch/v1", "Job", json!({"parallelism": -1, "activeDeadlineSeconds": 0, "template": pod_template("Always")}));
        assert_eq!(got, [
            "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
            "spec.activeDeadlineSeconds: Invalid value: 0: must be greater than 0",
            "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
        ]);
        assert!(errors("batch/v1", "Job", json!({"completions": 3, "template": pod_template("Never")})).is_empty());
    }

    #[test]
    fn cronjobs_need_a_valid_schedule() {
        let job = json!({"template": pod_template("OnFailure")});
        let got = errors("batch/v1", "CronJob", json!({"schedule": "61 * * * *", "concurrencyPolicy": "Never", "jobTemplate": {"spec": job}}));
        assert_eq!(got, [
            "spec.schedule: Invalid value: \"61 * * * *\": minute value 61 out of range (0-59)",
            "spec.concurrencyPolicy: Unsupported value: \"Never\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
        ]);
        assert!(errors("batch/v1", "CronJob", json!({"schedule": "@hourly", "jobTemplate": {"spec": job}})).is_empty());
        let got = errors("batch/v1", "CronJob", json!({"jobTemplate": {"spec": {"parallelism": -2, "template": pod_template("Never")}}}));
        assert_eq!(got, ["spec.schedule: Required value", "spec.jobTemplate.spec.parallelism: Invalid value: -2: must be greater than or equal to 0"]);
    }
}
