//! The authentication reviews: TokenReview (who a token authenticates, for which
//! audiences) and SelfSubjectReview (`kubectl auth whoami`: who is asking). Answered
//! from the authenticator chain and the request's user; nothing is stored.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::Ctx;
use crate::authn::{Credentials, Outcome};
use crate::respond;
use crate::status::{ApiError, ApiResult};

/// Answers a TokenReview or a SelfSubjectReview.
pub async fn create(ctx: &Ctx<'_>, review: Value) -> ApiResult<Response> {
    if ctx.target.rt.kind == "TokenReview" {
        token_review(ctx, review).await
    } else {
        self_subject_review(ctx, review)
    }
}

/// TokenReview: who the token in `spec.token` authenticates, for which of `spec.audiences`
/// (the API server's own when none are given).
async fn token_review(ctx: &Ctx<'_>, mut review: Value) -> ApiResult<Response> {
    let token = review
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::bad_request("a TokenReview needs spec.token: the bearer token to check")
        })?;
    let audiences: Vec<String> = match review.pointer("/spec/audiences").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        _ => ctx.state.tokens.api_audiences.clone(),
    };
    let credentials = Credentials {
        client_certificates: None,
        token: (token.len() <= crate::authn::MAX_TOKEN_LEN).then_some(token.as_str()),
        audiences: &audiences,
    };
    let status = match ctx.state.authenticator.authenticate(&credentials).await {
        Outcome::Authenticated { user, audiences } => json!({
            "authenticated": true, "user": user.to_user_info(), "audiences": audiences,
        }),
        Outcome::NotMine => {
            json!({"authenticated": false, "user": {}, "error": "the token is not recognised"})
        }
        Outcome::Rejected(why) => json!({"authenticated": false, "user": {}, "error": why.0}),
    };
    // spec.token stays: clients (the Python one among them) require it in the answer,
    // which goes only to the caller who sent it. The status never repeats it.
    review["status"] = status;
    Ok(respond::json(StatusCode::CREATED, &review))
}

/// SelfSubjectReview (`kubectl auth whoami`): the requesting user's attributes.
fn self_subject_review(ctx: &Ctx<'_>, mut review: Value) -> ApiResult<Response> {
    review["status"] = json!({"userInfo": ctx.user.to_user_info()});
    if review.get("metadata").is_none() {
        review["metadata"] = json!({});
    }
    crate::object::set_meta(
        &mut review,
        "creationTimestamp",
        json!(crate::object::now()),
    );
    Ok(respond::json(StatusCode::CREATED, &review))
}
