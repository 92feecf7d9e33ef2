//! Checking an object against its real type: decode a JSON value into the
//! `k8s-openapi` struct and encode it back. What comes back is the object as
//! Kubernetes stores it (unknown fields dropped); what went missing on the way
//! is reported as unknown fields, for `fieldValidation=Strict|Warn`.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Decodes an object of one type; see [`roundtrip`].
pub type Decoder = fn(&Value) -> Result<Decoded, DecodeError>;

/// An object that decoded as its type.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The object as its type encodes it.
    pub object: Value,
    /// Paths (`spec.foo`, `spec.containers[0].bar`) of the fields the type does not have.
    pub unknown_fields: Vec<String>,
}

/// A field whose value does not fit its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DecodeError {
    /// The field at fault, as a dotted path ("." for the object itself).
    pub path: String,
    pub message: String,
}

/// Decodes `value` as a `T` and encodes it back.
pub fn roundtrip<T: Serialize + DeserializeOwned>(value: &Value) -> Result<Decoded, DecodeError> {
    let typed: T = serde_path_to_error::deserialize(value.clone()).map_err(|e| DecodeError {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    let object = serde_json::to_value(&typed).map_err(|e| DecodeError {
        path: ".".to_string(),
        message: e.to_string(),
    })?;
    let mut unknown_fields = Vec::new();
    missing_fields(value, &object, "", &mut unknown_fields);
    Ok(Decoded {
        object,
        unknown_fields,
    })
}

/// Decodes a custom resource: its `metadata` must be an ObjectMeta (unknown metadata fields
/// are dropped and named); the rest is checked against the definition's schema by the caller
/// ([`crate::crd::objects`]).
pub fn custom(value: &Value) -> Result<Decoded, DecodeError> {
    let mut object = value.clone();
    if !object.is_object() {
        return Err(DecodeError { path: ".".into(), message: "the object must be a JSON object".into() });
    }
    let mut unknown_fields = Vec::new();
    if let Some(meta) = value.get("metadata") {
        let decoded = roundtrip::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(meta).map_err(|e| DecodeError {
            path: format!("metadata.{}", e.path).trim_end_matches('.').to_string(),
            message: e.message,
        })?;
        unknown_fields.extend(decoded.unknown_fields.into_iter().map(|f| format!("metadata.{f}")));
        object["metadata"] = decoded.object;
    }
    Ok(Decoded { object, unknown_fields })
}

/// Collects the paths of the non-null fields of `input` that `output` lacks.
fn missing_fields(input: &Value, output: &Value, path: &str, found: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(inp), Value::Object(out)) => {
            for (key, value) in inp {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match out.get(key) {
                    Some(o) => missing_fields(value, o, &child, found),
                    None if value.is_null() => {}
                    None => found.push(child),
                }
            }
        }
        (Value::Array(inp), Value::Array(out)) => {
            for (i, (a, b)) in inp.iter().zip(out).enumerate() {
                missing_fields(a, b, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_fields_are_dropped_and_named() {
        let input = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "bogus": 1, "labels": null},
            "data": {"k": "v"}, "extra": {"x": 1}
        });
        let decoded = roundtrip::<ConfigMap>(&input).unwrap();
        assert_eq!(decoded.unknown_fields, vec!["extra", "metadata.bogus"]);
        assert_eq!(decoded.object["data"]["k"], "v");
        assert!(decoded.object.get("extra").is_none());
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_field() {
        let input = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 5}});
        let err = roundtrip::<ConfigMap>(&input).unwrap_err();
        assert_eq!(err.path, "metadata.name");
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }
}
