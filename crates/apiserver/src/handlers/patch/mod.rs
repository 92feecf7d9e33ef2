//! The three patch types Kubernetes takes: JSON Patch (RFC 6902), JSON
//! Merge Patch (RFC 7386) and strategic merge patch (merge keys of the real
//! types). Pure functions over JSON values.

mod json;
mod merge;
mod strategic;

use axum::http::HeaderMap;
use serde_json::Value;
use tug_api::schema::Node;

use crate::body;
use crate::status::{ApiError, ApiResult};

/// A patch that cannot be applied to the object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(pub String);

/// Applies a patch body to `original`, an object whose type's schema is `root`, according to
/// the request's content type.
pub fn apply(headers: &HeaderMap, original: &Value, patch: &[u8], root: Option<Node<'_>>) -> ApiResult<Value> {
    let media = body::content_type(headers);
    let unprocessable = |e: PatchError| ApiError::unprocessable(e.0);
    match media.as_str() {
        "application/json-patch+json" => {
            json::apply(original, &body::json(patch)?).map_err(unprocessable)
        }
        "application/merge-patch+json" => Ok(merge::apply(original, &body::json(patch)?)),
        "application/strategic-merge-patch+json" => {
            strategic::apply(original, &body::json(patch)?, root).map_err(unprocessable)
        }
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
            Err(ApiError::unsupported_media_type(&media))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}
