//! The TokenRequest API (`POST .../serviceaccounts/<name>/token`, `kubectl
//! create token`): a bound ServiceAccount token for the audiences asked for,
//! expiring after `expirationSeconds` (at least 10 minutes), optionally bound
//! to a Pod or Secret of the same namespace.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use tug_api::validation::{ErrorType, FieldError};

use super::Ctx;
use crate::authn::serviceaccount::{
    BoundObject, DEFAULT_EXPIRATION, MAX_EXPIRATION, MIN_EXPIRATION,
};
use crate::respond;
use crate::status::{ApiError, ApiResult};

/// Answers a TokenRequest for the ServiceAccount the path names.
pub async fn create(ctx: &Ctx<'_>, mut request: Value) -> ApiResult<Response> {
    let namespace = ctx.target.namespace.as_deref().unwrap_or_default();
    let name = ctx.target.name();
    let invalid = |field: &str, kind: ErrorType, value: String, detail: &str| {
        let mut e = ApiError::invalid(
            ctx.target.rt,
            name,
            &[FieldError {
                field: field.into(),
                kind,
                value,
                detail: detail.into(),
            }],
        );
        e.message = e.message.replacen("ServiceAccount", "TokenRequest", 1);
        e
    };
    let seconds = match request.pointer("/spec/expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION,
        Some(v) => v.as_i64().ok_or_else(|| {
            invalid(
                "spec.expirationSeconds",
                ErrorType::Invalid,
                v.to_string(),
                "must be an integer",
            )
        })?,
    };
    if seconds < MIN_EXPIRATION {
        return Err(invalid(
            "spec.expirationSeconds",
            ErrorType::Invalid,
            seconds.to_string(),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if seconds > MAX_EXPIRATION {
        return Err(invalid(
            "spec.expirationSeconds",
            ErrorType::Invalid,
            seconds.to_string(),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let audiences: Vec<String> = match request.pointer("/spec/audiences").and_then(Value::as_array)
    {
        Some(list) if !list.is_empty() => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        _ => ctx.state.tokens.api_audiences.clone(),
    };

    let sa = super::crud::get(ctx).await?;
    let bound = match request
        .pointer("/spec/boundObjectRef")
        .filter(|b| !b.is_null())
    {
        Some(reference) => Some(bound_object(ctx, namespace, reference, &invalid).await?),
        None => None,
    };
    let (token, expires) = ctx
        .state
        .tokens
        .bound_token(&sa, &audiences, seconds, bound.as_ref())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let expiration = jiff::Timestamp::from_second(expires)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    request["apiVersion"] = json!("authentication.k8s.io/v1");
    request["kind"] = json!("TokenRequest");
    request["metadata"] =
        json!({"name": name, "namespace": namespace, "creationTimestamp": crate::object::now()});
    request["spec"]["audiences"] = json!(audiences);
    request["spec"]["expirationSeconds"] = json!(seconds);
    request["status"] = json!({"token": token, "expirationTimestamp": expiration});
    Ok(respond::json(StatusCode::CREATED, &request))
}

/// The Pod or Secret a token is to be bound to: it must exist (with the uid given, if any).
async fn bound_object(
    ctx: &Ctx<'_>,
    namespace: &str,
    reference: &Value,
    invalid: &impl Fn(&str, ErrorType, String, &str) -> ApiError,
) -> ApiResult<BoundObject> {
    let s = |f: &str| reference.get(f).and_then(Value::as_str).unwrap_or_default();
    let (claim, plural) = match s("kind") {
        "Pod" => ("pod", "pods"),
        "Secret" => ("secret", "secrets"),
        other => {
            return Err(invalid(
                "spec.boundObjectRef.kind",
                ErrorType::NotSupported,
                format!("\"{other}\""),
                "supported values: \"Pod\", \"Secret\"",
            ))
        }
    };
    let bound_name = s("name");
    if bound_name.is_empty() {
        return Err(invalid(
            "spec.boundObjectRef.name",
            ErrorType::Required,
            String::new(),
            "the name of the object to bind the token to",
        ));
    }
    let rt = tug_api::registry::find("", "v1", plural)
        .ok_or_else(|| ApiError::internal(format!("{plural} are not registered")))?;
    let kv = ctx
        .state
        .store
        .get(&rt.key(Some(namespace), bound_name))
        .await?
        .ok_or_else(|| ApiError::not_found(rt, bound_name))?;
    let object = crate::object::from_kv(rt, &kv)?;
    let uid = crate::object::meta_str(&object, "uid").unwrap_or_default();
    let wanted = s("uid");
    if !wanted.is_empty() && wanted != uid {
        return Err(ApiError::conflict(
            rt,
            bound_name,
            &format!("the UID in the bound object reference ({wanted}) does not match the UID in record ({uid}); the object might have been deleted and then recreated"),
        ));
    }
    Ok(BoundObject {
        claim,
        name: bound_name.to_string(),
        uid: uid.to_string(),
    })
}
