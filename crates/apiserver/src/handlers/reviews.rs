//! The create-only review kinds (`tokenreviews`, `subjectaccessreviews`, …): each
//! request is answered from the authenticator or authorizer and nothing is stored.
//! Access reviews ask the server's authorizer chain, so `kubectl auth can-i`
//! gets the answer a real request would; rules reviews list the RBAC rules
//! that apply in a namespace (`kubectl auth can-i --list`).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::Ctx;
use crate::authn::User;
use crate::authz::{Attributes, Decision, Target};
use crate::respond;
use crate::status::{ApiError, ApiResult};

/// Answers a review: the request object comes back with its `status` filled in.
pub async fn create(ctx: &Ctx<'_>, mut review: Value) -> ApiResult<Response> {
    let status = match ctx.target.rt.plural {
        "subjectaccessreviews" => {
            let spec = spec(&review)?;
            let user = subject(spec);
            if user.name.is_empty() && user.groups.is_empty() {
                return Err(invalid(ctx, "spec.user", "at least one of user or group must be specified"));
            }
            access(ctx, user, spec, None).await?
        }
        "selfsubjectaccessreviews" => {
            let spec = spec(&review)?;
            access(ctx, ctx.user.clone(), spec, None).await?
        }
        "localsubjectaccessreviews" => {
            let spec = spec(&review)?;
            let namespace = ctx.target.namespace.clone().unwrap_or_default();
            let user = subject(spec);
            access(ctx, user, spec, Some(&namespace)).await?
        }
        "selfsubjectrulesreviews" => {
            let namespace = review
                .pointer("/spec/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            rules(ctx, namespace)
        }
        plural => {
            return Err(ApiError::method_not_allowed(format!(
                "{plural} are not answered yet"
            )))
        }
    };
    review["status"] = status;
    if let Some(meta) = review.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("creationTimestamp".into(), Value::Null);
    }
    Ok(respond::json(StatusCode::CREATED, &review))
}

fn spec(review: &Value) -> ApiResult<&Value> {
    review
        .get("spec")
        .ok_or_else(|| ApiError::bad_request("the review has no spec: set spec.resourceAttributes or spec.nonResourceAttributes"))
}

/// The user a (Local)SubjectAccessReview asks about: `spec.user`, `uid`, `groups`, `extra`.
fn subject(spec: &Value) -> User {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    User {
        name: text(spec, "user"),
        uid: text(spec, "uid"),
        groups: spec.get("groups").map(strings).unwrap_or_default(),
        extra: spec
            .get("extra")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), strings(v)))
            .collect(),
    }
}

fn text(value: &Value, field: &str) -> String {
    value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn invalid(ctx: &Ctx<'_>, field: &str, detail: &str) -> ApiError {
    ApiError::invalid(ctx.target.rt, "", &[tug_api::FieldError {
        field: field.into(),
        kind: tug_api::validation::ErrorType::Invalid,
        value: "null".into(),
        detail: detail.into(),
    }])
}

/// Whether `user` may do what the review's spec describes: `{allowed, denied, reason}`.
async fn access(ctx: &Ctx<'_>, user: User, spec: &Value, local: Option<&str>) -> ApiResult<Value> {
    let target = match (spec.get("resourceAttributes"), spec.get("nonResourceAttributes")) {
        (Some(r), None) => {
            let mut namespace = Some(text(r, "namespace")).filter(|n| !n.is_empty());
            if let Some(local) = local {
                match namespace.as_deref() {
                    Some(ns) if ns != local => {
                        return Err(invalid(ctx, "spec.resourceAttributes.namespace", &format!("must match the namespace of the review ({local:?})")))
                    }
                    _ => namespace = Some(local.to_string()),
                }
            }
            let verb = text(r, "verb");
            let target = Target::Resource {
                group: text(r, "group"),
                resource: text(r, "resource"),
                subresource: Some(text(r, "subresource")).filter(|s| !s.is_empty()),
                namespace,
                name: Some(text(r, "name")).filter(|s| !s.is_empty()),
            };
            (verb, target)
        }
        (None, Some(n)) => (text(n, "verb"), Target::NonResource { path: text(n, "path") }),
        _ => {
            return Err(invalid(
                ctx,
                "spec.resourceAttributes",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ))
        }
    };
    let attributes = Attributes {
        user,
        verb: target.0,
        target: target.1,
    };
    let (decision, reason) = ctx.state.authorizer.decide_explained(&attributes).await;
    Ok(match decision {
        Decision::Allow => json!({"allowed": true, "reason": reason}),
        Decision::Deny(reason) => json!({"allowed": false, "denied": true, "reason": reason}),
        Decision::NoOpinion => json!({"allowed": false, "reason": reason}),
    })
}

/// The RBAC rules the requester holds in `namespace`, as SelfSubjectRulesReview lists them.
fn rules(ctx: &Ctx<'_>, namespace: &str) -> Value {
    let namespace = Some(namespace).filter(|n| !n.is_empty());
    let held = ctx.state.rbac.rules_for(ctx.user, namespace).rules;
    let mut resource_rules = Vec::new();
    let mut url_rules = Vec::new();
    for rule in held {
        if rule.non_resource_urls.is_empty() {
            resource_rules.push(json!({
                "verbs": rule.verbs, "apiGroups": rule.api_groups,
                "resources": rule.resources, "resourceNames": rule.resource_names,
            }));
        } else {
            url_rules.push(json!({"verbs": rule.verbs, "nonResourceURLs": rule.non_resource_urls}));
        }
    }
    json!({"resourceRules": resource_rules, "nonResourceRules": url_rules, "incomplete": false})
}
