//! Errors as `metav1.Status` objects with the HTTP code and reason Kubernetes
//! clients look for, so that kubectl and client libraries print the real message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tug_api::{FieldError, ResourceType};

/// A failed API request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

/// `deployments.apps` or `configmaps`: how messages name a resource.
pub fn qualified_resource(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.to_string()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

fn details(rt: &ResourceType, name: &str) -> Value {
    json!({"name": name, "group": rt.group, "kind": rt.plural})
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// The user may not do this (authorization or admission said no).
    pub fn forbidden(message: impl Into<String>, details: Option<Value>) -> ApiError {
        let mut e = ApiError::new(403, "Forbidden", message);
        e.details = details;
        e
    }

    /// The path names no served resource.
    pub fn no_route() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        let mut e = ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified_resource(rt)),
        );
        e.details = Some(details(rt, name));
        e
    }

    pub fn namespace_not_found(namespace: &str) -> ApiError {
        let mut e = ApiError::new(
            404,
            "NotFound",
            format!("namespaces \"{namespace}\" not found"),
        );
        e.details = Some(json!({"name": namespace, "kind": "namespaces"}));
        e
    }

    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    pub fn already_exists(rt: &ResourceType, name: &str) -> ApiError {
        let mut e = ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified_resource(rt)),
        );
        e.details = Some(details(rt, name));
        e
    }

    pub fn conflict(rt: &ResourceType, name: &str, why: &str) -> ApiError {
        let mut e = ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified_resource(rt)
            ),
        );
        e.details = Some(details(rt, name));
        e
    }

    /// The object changed since the client read it.
    pub fn stale(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::conflict(rt, name, "the object has been modified; please apply your changes to the latest version and try again")
    }

    /// The history asked for was compacted away.
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type:?})"))
    }

    /// 415 for a strategic merge patch of a custom resource (there are no merge keys).
    pub fn strategic_patch_on_custom(rt: &ResourceType) -> ApiError {
        ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (strategic merge patch is not supported for the custom kind {}.{})", rt.kind, rt.group))
    }

    /// 422 with one cause per invalid field.
    pub fn invalid(rt: &ResourceType, name: &str, errors: &[FieldError]) -> ApiError {
        let kind = if rt.group.is_empty() {
            rt.kind.to_string()
        } else {
            format!("{}.{}", rt.kind, rt.group)
        };
        let list = match errors {
            [one] => one.to_string(),
            many => format!(
                "[{}]",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.kind.reason(), "message": e.message(), "field": e.field}))
            .collect();
        let mut e = ApiError::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {list}"),
        );
        e.details =
            Some(json!({"name": name, "group": rt.group, "kind": rt.kind, "causes": causes}));
        e
    }

    /// A request that is well-formed but cannot be carried out (a patch that does not apply).
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(422, "Invalid", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// The Status object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }

    /// Maps a store error on an object of type `rt` named `name`.
    pub fn from_store(rt: &ResourceType, name: &str, error: tug_store::Error) -> ApiError {
        use tug_store::Error as E;
        match error {
            E::AlreadyExists { .. } => ApiError::already_exists(rt, name),
            E::NotFound { .. } => ApiError::not_found(rt, name),
            E::Conflict { .. } => ApiError::stale(rt, name),
            other => ApiError::from(other),
        }
    }
}

impl From<tug_store::Error> for ApiError {
    fn from(error: tug_store::Error) -> ApiError {
        use tug_store::Error as E;
        match error {
            E::Compacted {
                requested,
                compacted,
            } => ApiError::expired(format!(
                "too old resource version: {requested} ({compacted})"
            )),
            E::FutureRevision { requested, current } => ApiError::new(
                504,
                "Timeout",
                format!("Too large resource version: {requested}, current: {current}"),
            ),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        crate::respond::json(code, &self.to_status())
    }
}

/// A request's result: a response or a Status.
pub type ApiResult<T> = Result<T, ApiError>;
