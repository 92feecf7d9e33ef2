//! `POST /tug/v1/node-credentials`: how an agent joins with a bootstrap token
//! (`tug agent --server URL --token TOKEN`). The caller, authenticated by the token as
//! `system:bootstrap:<id>` in `system:bootstrappers` (and authorized by the default
//! `system:tug:node-bootstrapper` role), names its node (`{"nodeName": "n1"}`) and gets
//! a kubeconfig whose client certificate, signed by the cluster CA, is
//! `system:node:<name>` in `system:nodes`: from then on the Node authorizer decides
//! what it may do. Kubernetes' CSR flow with auto-approval, in one request.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::authn::bootstrap;
use crate::authn::User;
use crate::server::AppState;
use crate::status::ApiError;

/// The path served.
pub const PATH: &str = "/tug/v1/node-credentials";

/// A node name as Kubernetes accepts one: a DNS-1123 subdomain.
fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

pub async fn issue(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let user = parts.extensions.get::<User>().cloned().unwrap_or_else(User::anonymous);
    if !user.groups.iter().any(|g| g == bootstrap::GROUP) {
        let message = format!("user \"{}\" cannot get node credentials: only a bootstrap token (group {}) can", user.name, bootstrap::GROUP);
        return ApiError::forbidden(message, None).into_response();
    }
    let body = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => b,
        Err(_) => return ApiError::bad_request("the request body could not be read").into_response(),
    };
    let name = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("nodeName").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    if !valid_node_name(&name) {
        let message = format!("nodeName: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character");
        return ApiError::unprocessable(message).into_response();
    }
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:6443");
    let server = format!("https://{host}");
    match state.pki.user_kubeconfig(&server, &format!("system:node:{name}"), &["system:nodes"]) {
        Ok(kubeconfig) => (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/yaml")], kubeconfig).into_response(),
        Err(e) => ApiError::internal(format!("failed to issue the node's certificate: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_dns_subdomains() {
        assert!(valid_node_name("node-1.example"));
        assert!(!valid_node_name("Node1"));
        assert!(!valid_node_name("-a"));
        assert!(!valid_node_name(""));
        assert!(!valid_node_name("a..b"));
    }
}
