//! The create-only review kinds (`tokenreviews`, `subjectaccessreviews`, …): each
//! request is answered from the authenticator or authorizer and nothing is stored.

use axum::response::Response;
use serde_json::Value;

use super::Ctx;
use crate::status::{ApiError, ApiResult};

/// Answers a review: the request object comes back with its `status` filled in.
pub async fn create(ctx: &Ctx<'_>, _review: Value) -> ApiResult<Response> {
    Err(ApiError::method_not_allowed(format!(
        "{} are not answered yet",
        ctx.target.rt.plural
    )))
}
