//! Checks on writes of RBAC objects, as Kubernetes makes them: a Role or
//! ClusterRole may only hold rules its writer holds (unless the writer may
//! `escalate` it), a binding may only grant a role whose rules its writer
//! holds (unless the writer may `bind` it), a binding must name a role of an
//! allowed kind that exists (or, for writers who may `bind` it, gets a warning
//! that it does not yet), and its `roleRef` never changes. After an RBAC
//! write the request waits until the authorizer has seen it.

use serde_json::Value;
use tug_api::validation::ErrorType;
use tug_api::{FieldError, ResourceType};

use super::rbac::{RoleRef, PREFIX};
use super::rules::PolicyRule;
use super::{Attributes, Decision, Target};
use crate::authn::User;
use crate::server::AppState;
use crate::status::{ApiError, ApiResult};

const GROUP: &str = "rbac.authorization.k8s.io";

/// Refuses the write of `object` (replacing `old`, if any) when it would grant more than
/// `user` holds. A binding to a missing role is refused too, unless the writer may `bind`
/// it: then (as Kubernetes, so manifests may list bindings before roles) it is written with
/// a warning that it grants nothing yet.
pub async fn check(
    state: &AppState,
    user: &User,
    rt: &ResourceType,
    object: &Value,
    old: Option<&Value>,
    warnings: &mut Vec<String>,
) -> ApiResult<()> {
    if rt.group != GROUP {
        return Ok(());
    }
    let name = crate::object::meta_str(object, "name").unwrap_or_default();
    let namespace = crate::object::meta_str(object, "namespace").filter(|_| rt.namespaced);
    match rt.plural {
        "roles" | "clusterroles" => {
            let rules: Vec<PolicyRule> = object
                .get("rules")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| ApiError::bad_request(format!("{} {name:?}: rules: {e}", rt.kind)))?
                .unwrap_or_default();
            if may(state, user, "escalate", rt.plural, namespace, name).await {
                return Ok(());
            }
            // Aggregation gathers rules from elsewhere: only those who may escalate set it.
            if object.get("aggregationRule").is_some_and(|a| !a.is_null()) {
                return Err(ApiError::forbidden(
                    format!("{}.{GROUP} {name:?} is forbidden: user {:?} must have permission to escalate clusterroles to set an aggregationRule", rt.plural, user.name),
                    Some(serde_json::json!({"name": name, "group": GROUP, "kind": rt.plural})),
                ));
            }
            let held = state.rbac.rules_for(user, namespace).rules;
            not_held(rt, name, user, &held, &rules)
        }
        "rolebindings" | "clusterrolebindings" => {
            let role_ref: RoleRef = object
                .get("roleRef")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| ApiError::bad_request(format!("{} {name:?}: roleRef: {e}", rt.kind)))?
                .ok_or_else(|| invalid(rt, name, "roleRef", ErrorType::Required, "", "roleRef names the Role or ClusterRole to grant"))?;
            if let Some(old_ref) = old.and_then(|o| o.get("roleRef")) {
                if object.get("roleRef") != Some(old_ref) {
                    return Err(invalid(rt, name, "roleRef", ErrorType::Invalid, &old_ref.to_string(), "cannot change roleRef; delete the binding and create it again"));
                }
            }
            let kinds: &[&str] = if rt.namespaced { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
            if !kinds.contains(&role_ref.kind.as_str()) {
                let supported: Vec<String> = kinds.iter().map(|k| format!("{k:?}")).collect();
                return Err(invalid(rt, name, "roleRef.kind", ErrorType::NotSupported, &format!("{:?}", role_ref.kind), &format!("supported values: {}", supported.join(", "))));
            }
            let plural = if role_ref.kind == "Role" { "roles" } else { "clusterroles" };
            let may_bind = may(state, user, "bind", plural, namespace, &role_ref.name).await;
            if !state.rbac.role_exists(namespace, &role_ref) {
                let place = match (role_ref.kind.as_str(), namespace) {
                    ("Role", Some(ns)) => format!(" in namespace {ns:?}"),
                    _ => String::new(),
                };
                if may_bind {
                    warnings.push(format!(
                        "{} {name:?}: {} {:?} not found{place}; the binding grants nothing until it exists",
                        rt.kind, role_ref.kind, role_ref.name
                    ));
                    return Ok(());
                }
                return Err(invalid(rt, name, "roleRef.name", ErrorType::Invalid, &format!("{:?}", role_ref.name), &format!(
                    "{} {:?} not found{place}; create it first or fix roleRef",
                    role_ref.kind, role_ref.name
                )));
            }
            if may_bind {
                return Ok(());
            }
            let granted = state.rbac.role_rules(namespace, &role_ref).unwrap_or_default();
            let held = state.rbac.rules_for(user, namespace).rules;
            not_held(rt, name, user, &held, &granted)
        }
        _ => Ok(()),
    }
}

/// Waits until the authorizer has seen an RBAC write at `revision`.
pub async fn written(state: &AppState, key: &str, revision: i64) {
    if key.starts_with(PREFIX) {
        state.rbac.caught_up(revision).await;
    }
}

async fn may(state: &AppState, user: &User, verb: &str, plural: &str, namespace: Option<&str>, name: &str) -> bool {
    let attributes = Attributes {
        user: user.clone(),
        verb: verb.into(),
        target: Target::Resource {
            group: GROUP.into(),
            resource: plural.into(),
            subresource: None,
            namespace: namespace.map(str::to_string),
            name: Some(name.to_string()),
        },
    };
    state.authorizer.authorize(&attributes).await == Decision::Allow
}

/// 403 naming the rules of `wanted` that `held` does not cover.
fn not_held(rt: &ResourceType, name: &str, user: &User, held: &[PolicyRule], wanted: &[PolicyRule]) -> ApiResult<()> {
    let missing: Vec<String> = wanted
        .iter()
        .flat_map(PolicyRule::atoms)
        .filter(|atom| !held.iter().any(|h| h.covers(atom)))
        .map(|atom| atom.compact())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let groups: Vec<String> = user.groups.iter().map(|g| format!("{g:?}")).collect();
    Err(ApiError::forbidden(
        format!(
            "{}.{GROUP} {name:?} is forbidden: user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
            rt.plural,
            user.name,
            groups.join(" "),
            missing.join("\n")
        ),
        Some(serde_json::json!({"name": name, "group": GROUP, "kind": rt.plural})),
    ))
}

fn invalid(rt: &ResourceType, name: &str, field: &str, kind: ErrorType, value: &str, detail: &str) -> ApiError {
    ApiError::invalid(rt, name, &[FieldError {
        field: field.into(),
        kind,
        value: value.into(),
        detail: detail.into(),
    }])
}
