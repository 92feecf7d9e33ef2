//! The content hash kustomize appends to generated ConfigMap and Secret names.
//!
//! It is the SHA-256 of a compact JSON encoding (keys sorted) of the object's
//! kind, an empty name, its data (and binaryData), plus type for Secrets; the
//! first ten hex digits are kept, with `0 1 3 a e` swapped for `g h k m t` so
//! the suffix never spells words.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The ten-character suffix for a ConfigMap or Secret object.
pub fn content_hash(obj: &Value) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let mut m = Map::new();
    m.insert("kind".into(), Value::String(kind.into()));
    m.insert("name".into(), Value::String(String::new()));
    let data = obj.get("data").cloned().unwrap_or(Value::Object(Map::new()));
    m.insert("data".into(), data);
    if kind == "Secret" {
        let t = obj.get("type").cloned().unwrap_or(Value::String(String::new()));
        m.insert("type".into(), t);
    } else if let Some(b) = obj.get("binaryData").filter(|b| b.as_object().is_some_and(|o| !o.is_empty())) {
        m.insert("binaryData".into(), b.clone());
    }
    let json = go_json(&Value::Object(m));
    let digest = Sha256::digest(json.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.chars()
        .take(10)
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// Compact JSON as Go's encoder writes it (`<`, `>`, `&` escaped).
fn go_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configmap_hash_matches_kustomize() {
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "staging-the-map-v1"},
            "data": {"altGreeting": "Have a pineapple!", "enableRisky": "true"}});
        assert_eq!(content_hash(&cm), "5276h4th55");
    }

    #[test]
    fn secret_hash_includes_type_and_matches_kustomize() {
        let s = json!({"kind": "Secret", "type": "Opaque", "metadata": {"name": "dbpass"},
            "data": {"dbpass.txt": "ZGJwYXNzCg=="}});
        assert_eq!(content_hash(&s), "96786m5764");
    }
}
