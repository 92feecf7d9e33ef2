//! PodSecurity: the namespace's `pod-security.kubernetes.io/<mode>` labels pick a Pod
//! Security Standards level (and `<mode>-version`) per mode. `enforce` refuses a pod that
//! fails its level (`violates PodSecurity "restricted:latest": …`); `warn` answers with a
//! `Warning` (`would violate PodSecurity …`); `audit` adds an annotation to the request's
//! audit event. Workloads' pod templates are checked for `warn` and `audit` only, as in
//! Kubernetes, since their pods meet `enforce` when created.

mod checks;

use serde_json::Value;

use super::{get, pod_template, Admit, Operation, Plugin, Request, Review};
use checks::{evaluate, Level};

const LABEL_PREFIX: &str = "pod-security.kubernetes.io/";

pub struct PodSecurity;

/// A mode's level and version from the namespace labels.
fn policy(labels: Option<&Value>, mode: &str) -> Option<(Level, String)> {
    let labels = labels?;
    let level = Level::parse(labels.get(format!("{LABEL_PREFIX}{mode}"))?.as_str()?)?;
    let version = labels
        .get(format!("{LABEL_PREFIX}{mode}-version"))
        .and_then(Value::as_str)
        .unwrap_or("latest")
        .to_string();
    Some((level, version))
}

impl Plugin for PodSecurity {
    fn name(&self) -> &'static str {
        "PodSecurity"
    }

    fn validate<'a>(
        &'a self,
        request: &'a Request<'a>,
        object: &'a Value,
        review: &'a mut Review,
    ) -> Admit<'a> {
        Box::pin(async move {
            if request.operation == Operation::Delete {
                return Ok(());
            }
            let Some(ns) = request.namespace else {
                return Ok(());
            };
            let is_pod = request.is("", "Pod");
            // Pods are checked when created; updates only change what the standards allow.
            if is_pod && request.operation != Operation::Create {
                return Ok(());
            }
            let Some((_, spec)) = pod_template(request.rt, object) else {
                return Ok(());
            };
            let Some(namespace) = get(request.store, "", "namespaces", None, ns).await? else {
                return Ok(());
            };
            let labels = namespace.pointer("/metadata/labels");
            let judge = |mode: &str| {
                let (level, version) = policy(labels, mode)?;
                let violations = evaluate(level, &spec);
                (!violations.is_empty()).then(|| {
                    let list = violations
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ");
                    (format!("PodSecurity \"{}:{version}\"", level.name()), list)
                })
            };
            if is_pod {
                if let Some((policy, list)) = judge("enforce") {
                    return Err(request.forbidden(format!("violates {policy}: {list}")));
                }
            }
            if let Some((policy, list)) = judge("warn") {
                review
                    .warnings
                    .push(format!("would violate {policy}: {list}"));
            }
            if let Some((policy, list)) = judge("audit") {
                review.audit_annotations.push((
                    format!("{LABEL_PREFIX}audit-violations"),
                    format!("would violate {policy}: {list}"),
                ));
            }
            Ok(())
        })
    }
}
