//! `/openapi/v2` and `/openapi/v3`: the documents built (once) by `tug_api::openapi`,
//! served as the real API server does (v3 also for the custom kinds served now). kubectl
//! asks for v2 as protobuf only.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tug_api::openapi;

use std::sync::Arc;

use axum::extract::State;
use serde_json::json;

use crate::server::AppState;
use crate::status::ApiError;

fn bytes(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The Swagger 2.0 document, as protobuf when the client asks for it, else JSON.
pub async fn v2(headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if openapi::v2_accepts_protobuf(accept) {
        bytes(openapi::V2_PROTOBUF_MEDIA_TYPE, openapi::v2_protobuf())
    } else {
        bytes("application/json", openapi::v2_json())
    }
}

/// The v3 index of group versions, the custom kinds' among them.
pub async fn v3_index(State(state): State<Arc<AppState>>) -> Response {
    let mut index = openapi::v3_index().clone();
    for (group, versions) in state.crds.groups() {
        for version in versions {
            let Some(json) = custom_v3_json(&state, group, version) else { continue };
            let path = openapi::v3_path(group, version);
            index["paths"][&path] = json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", openapi::v3_hash_of(&json))});
        }
    }
    crate::respond::ok(&index)
}

/// The v3 document of one group version (`/openapi/v3/apis/apps/v1`); `?hash=` is ignored.
pub async fn v3(State(state): State<Arc<AppState>>, axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    if let Some(json) = openapi::v3_group_version(&path).and_then(|(g, v)| openapi::v3_json(g, v)) {
        return bytes("application/json", json);
    }
    let custom = state
        .crds
        .groups()
        .into_iter()
        .flat_map(|(g, vs)| vs.into_iter().map(move |v| (g, v)))
        .find(|(g, v)| openapi::v3_path(g, v) == path.trim_matches('/'));
    match custom.and_then(|(g, v)| custom_v3_json(&state, g, v)) {
        Some(json) => {
            let mut response = Response::new(Body::from(json));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        None => ApiError::no_route().into_response(),
    }
}

/// The v3 document of the custom kinds served in one group/version, as JSON.
fn custom_v3_json(state: &AppState, group: &str, version: &str) -> Option<Vec<u8>> {
    let versions: Vec<_> = state
        .crds
        .all()
        .into_iter()
        .filter(|t| t.group == group && t.version == version)
        .filter_map(|t| state.crds.version(t))
        .collect();
    if versions.is_empty() {
        return None;
    }
    let kinds: Vec<_> = versions.iter().map(|v| (v.rt, &v.openapi)).collect();
    serde_json::to_vec(&openapi::custom_v3(&kinds)).ok()
}
