//! `/openapi/v2` and `/openapi/v3`: the documents built (once) by `tug_api::openapi`,
//! served as the real API server does. kubectl asks for v2 as protobuf only.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tug_api::openapi;

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

/// The v3 index of group versions.
pub async fn v3_index() -> Response {
    crate::respond::ok(openapi::v3_index())
}

/// The v3 document of one group version (`/openapi/v3/apis/apps/v1`); `?hash=` is ignored.
pub async fn v3(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    match openapi::v3_group_version(&path).and_then(|(g, v)| openapi::v3_json(g, v)) {
        Some(json) => bytes("application/json", json),
        None => ApiError::no_route().into_response(),
    }
}
