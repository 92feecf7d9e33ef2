//! Request bodies: read with a size limit, decoded from JSON or YAML.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;

use crate::status::{ApiError, ApiResult};

/// The largest request body accepted, as the Kubernetes API server: 3 MiB.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Reads the whole body; 413 past [`MAX_BODY`].
pub async fn read(body: Body) -> ApiResult<Bytes> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::too_large(MAX_BODY)),
        Err(e) => Err(ApiError::bad_request(format!(
            "failed to read the request body: {e}"
        ))),
    }
}

/// The media type of the body, without parameters ("application/json" when absent).
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "application/json".to_string())
}

/// Decodes an object body as JSON or YAML according to its content type.
pub fn decode_object(headers: &HeaderMap, bytes: &[u8]) -> ApiResult<Value> {
    let media = content_type(headers);
    let value = match media.as_str() {
        "application/json" | "*/*" => json(bytes)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => yaml(bytes)?,
        "application/vnd.kubernetes.protobuf" => crate::protobuf::decode(bytes)?,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !value.is_object() {
        return Err(ApiError::bad_request("the request body must be an object"));
    }
    Ok(value)
}

/// Parses JSON; 400 naming the position of the first error.
pub fn json(bytes: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}")))
}

/// Parses a YAML document; 400 naming the position of the first error.
pub fn yaml(bytes: &[u8]) -> ApiResult<Value> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::bad_request(format!("error decoding YAML: body is not UTF-8: {e}"))
    })?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_bodies_name_the_position() {
        let e = json(b"{\"a\": 1,,}").unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("line 1 column"), "{}", e.message);
        let e = yaml(b"a: [1, 2\nb: c").unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("line"), "{}", e.message);
    }

    #[test]
    fn yaml_objects_decode() {
        let v = yaml(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n").unwrap();
        assert_eq!(v["metadata"]["name"], "a");
    }
}
