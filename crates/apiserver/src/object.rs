//! Objects as the server handles them: JSON values whose `metadata` the
//! server owns in part (uid, creationTimestamp, resourceVersion, generation).
//! The store holds each object without its resourceVersion; reads set it
//! from the key's modification revision.

use serde_json::{json, Map, Value};
use tug_api::{convert, ResourceType};
use tug_store::KeyValue;

use crate::status::{ApiError, ApiResult};

/// The object stored in `kv`, as `rt`'s version, with `metadata.resourceVersion` set.
pub fn from_kv(rt: &ResourceType, kv: &KeyValue) -> ApiResult<Value> {
    let object: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
    let mut object = convert::convert(object, rt);
    set_meta(
        &mut object,
        "resourceVersion",
        json!(kv.mod_revision.to_string()),
    );
    Ok(object)
}

/// The bytes to store for `object` of `rt`'s version: the object in the
/// storage version, without its resourceVersion.
pub fn to_bytes(rt: &'static ResourceType, object: &Value) -> Vec<u8> {
    let mut object = convert::to_storage(object.clone(), rt);
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    object.to_string().into_bytes()
}

/// `metadata.<field>` as a string.
pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

/// `metadata`, made an object if missing.
pub fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = json!({});
    }
    let Value::Object(fields) = object else {
        unreachable!("made an object above")
    };
    let meta = fields.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    let Value::Object(meta) = meta else {
        unreachable!("made an object above")
    };
    meta
}

pub fn set_meta(object: &mut Value, field: &str, value: Value) {
    meta_mut(object).insert(field.to_string(), value);
}

/// The finalizers still pending on an object.
pub fn has_finalizers(object: &Value) -> bool {
    ["/metadata/finalizers", "/spec/finalizers"].iter().any(|path| {
        object
            .pointer(path)
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    })
}

/// Now, as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Now with microseconds (metav1.MicroTime), as audit events carry it.
pub fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

/// `seconds` from now, in the same form.
pub fn now_plus(seconds: i64) -> String {
    let later = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .unwrap_or_else(|_| jiff::Timestamp::now());
    later.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `prefix` plus five random characters from Kubernetes' alphabet (no vowels, no look-alikes).
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let random = uuid::Uuid::new_v4();
    let suffix: String = random
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// How old an object is, as kubectl prints ages (`5s`, `3m`, `2d4h`).
pub fn age(object: &Value) -> String {
    let Some(created) =
        meta_str(object, "creationTimestamp").and_then(|t| t.parse::<jiff::Timestamp>().ok())
    else {
        return "<unknown>".to_string();
    };
    let seconds = jiff::Timestamp::now()
        .as_second()
        .saturating_sub(created.as_second())
        .max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s if s < 8 * 86400 => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_bytes_leave_out_the_resource_version() {
        let obj = json!({"metadata": {"name": "a", "resourceVersion": "7"}});
        let kv = KeyValue {
            key: "k".into(),
            value: to_bytes(tug_api::registry::by_kind("v1", "ConfigMap").unwrap(), &obj),
            create_revision: 3,
            mod_revision: 9,
            version: 2,
            lease: None,
        };
        assert!(!String::from_utf8_lossy(&kv.value).contains("resourceVersion"));
        assert_eq!(from_kv(tug_api::registry::by_kind("v1", "ConfigMap").unwrap(), &kv).unwrap()["metadata"]["resourceVersion"], "9");
    }

    #[test]
    fn generated_names_keep_the_prefix() {
        let name = generate_name("web-");
        assert_eq!(name.len(), 9);
        assert!(name.starts_with("web-"));
    }
}
