//! Custom resources against their version's structural schema, in the order the
//! Kubernetes API server takes: prune the fields the schema does not know (naming them,
//! for `fieldValidation`), fill in defaults, then validate with field paths.

use serde_json::{Map, Value};

use super::structural::Structural;
use crate::validation::{ErrorType, FieldError};

/// Removes the fields `schema` does not declare (where it prunes) and returns their paths.
/// `apiVersion`, `kind` and `metadata` of the object and of embedded resources are kept.
pub fn prune(schema: &Structural, object: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    prune_node(schema, object, "", true, &mut pruned);
    pruned
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

fn prune_node(schema: &Structural, value: &mut Value, path: &str, resource: bool, pruned: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            let resource = resource || schema.embedded;
            let keys: Vec<String> = fields.keys().cloned().collect();
            for key in keys {
                // A resource's type and metadata are the API server's, whatever the schema
                // says of them (a schema may only constrain `metadata.name`/`generateName`).
                if resource && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let sub = schema.properties.get(&key).or(schema.additional.as_deref());
                match sub {
                    Some(sub) => {
                        if let Some(v) = fields.get_mut(&key) {
                            prune_node(sub, v, &child(path, &key), false, pruned);
                        }
                    }
                    None if schema.preserve_unknown => {}
                    None => {
                        fields.remove(&key);
                        pruned.push(child(path, &key));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &schema.items {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_node(item_schema, item, &format!("{path}[{i}]"), false, pruned);
                }
            }
        }
        _ => {}
    }
}

/// Sets each missing (or null, where not nullable) property that has a default, then
/// descends into what is there.
pub fn default(schema: &Structural, value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (name, sub) in &schema.properties {
                let missing = match fields.get(name) {
                    None => true,
                    Some(Value::Null) => !sub.nullable,
                    Some(_) => false,
                };
                if let (true, Some(d)) = (missing, &sub.default) {
                    fields.insert(name.clone(), d.clone());
                }
                if let Some(v) = fields.get_mut(name) {
                    default(sub, v);
                }
            }
            if let Some(sub) = &schema.additional {
                for (name, v) in fields.iter_mut() {
                    if !schema.properties.contains_key(name) {
                        default(sub, v);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = &schema.items {
                items.iter_mut().for_each(|item| default(sub, item));
            }
        }
        _ => {}
    }
}

/// The object's problems against `schema`, each at its field path (`spec.replicas`).
pub fn validate(schema: &Structural, object: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let root = Structural { properties: schema.properties.iter().filter(|(k, _)| *k != "metadata").map(|(k, v)| (k.clone(), v.clone())).collect(), ..schema.clone() };
    node(&root, object, "", &mut errors);
    errors
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shown(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

fn invalid(path: &str, value: &Value, detail: String) -> FieldError {
    FieldError { field: shown(path).to_string(), kind: ErrorType::Invalid, value: value.to_string(), detail }
}

fn node(schema: &Structural, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let actual = type_name(value);
    if value.is_null() {
        if !schema.nullable && !schema.kind.is_empty() {
            errors.push(invalid(path, &Value::String("null".into()), format!("{} in body must be of type {}: \"null\"", shown(path), schema.kind)));
        }
        return;
    }
    let fits = match schema.kind.as_str() {
        "" if schema.int_or_string => matches!(actual, "integer" | "string"),
        "" => true,
        "number" => matches!(actual, "integer" | "number"),
        wanted => wanted == actual,
    };
    if !fits {
        let wanted = if schema.kind.is_empty() { "integer or string" } else { &schema.kind };
        errors.push(invalid(path, &Value::String(actual.into()), format!("{} in body must be of type {wanted}: \"{actual}\"", shown(path))));
        return;
    }
    values(schema, value, path, errors);
    match value {
        Value::Object(fields) => object(schema, fields, path, errors),
        Value::Array(items) => array(schema, items, path, errors),
        _ => {}
    }
}

fn object(schema: &Structural, fields: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    for name in &schema.required {
        if fields.get(name).is_none_or(Value::is_null) && !(schema.properties.get(name).is_some_and(|s| s.nullable) && fields.contains_key(name)) {
            errors.push(FieldError { field: child(path, name), kind: ErrorType::Required, value: String::new(), detail: String::new() });
        }
    }
    if schema.embedded {
        for name in ["apiVersion", "kind"] {
            if fields.get(name).and_then(Value::as_str).is_none_or(str::is_empty) {
                errors.push(FieldError { field: child(path, name), kind: ErrorType::Required, value: String::new(), detail: "must not be empty in an embedded resource".into() });
            }
        }
    }
    for (name, value) in fields {
        if let Some(sub) = schema.properties.get(name).or(schema.additional.as_deref()) {
            node(sub, value, &child(path, name), errors);
        }
    }
    let count = fields.len() as u64;
    if let Some(min) = schema.values.min_properties.filter(|m| count < *m) {
        errors.push(invalid(path, &Value::from(count), format!("{} in body should have at least {min} properties", shown(path))));
    }
    if let Some(max) = schema.values.max_properties.filter(|m| count > *m) {
        errors.push(invalid(path, &Value::from(count), format!("{} in body should have at most {max} properties", shown(path))));
    }
}

fn array(schema: &Structural, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    if let Some(item) = &schema.items {
        for (i, value) in items.iter().enumerate() {
            node(item, value, &format!("{path}[{i}]"), errors);
        }
    }
    let count = items.len() as u64;
    if let Some(min) = schema.values.min_items.filter(|m| count < *m) {
        errors.push(invalid(path, &Value::from(count), format!("{} in body should have at least {min} items", shown(path))));
    }
    if let Some(max) = schema.values.max_items.filter(|m| count > *m) {
        errors.push(invalid(path, &Value::from(count), format!("{} in body should have at most {max} items", shown(path))));
    }
    match schema.list_type.as_deref() {
        Some("set") => {
            for (i, value) in items.iter().enumerate() {
                if items[..i].contains(value) {
                    errors.push(FieldError { field: format!("{path}[{i}]"), kind: ErrorType::Duplicate, value: value.to_string(), detail: String::new() });
                }
            }
        }
        Some("map") => {
            let key_of = |v: &Value| schema.list_map_keys.iter().map(|k| v.get(k).cloned().unwrap_or(Value::Null)).collect::<Vec<_>>();
            for (i, value) in items.iter().enumerate() {
                let key = key_of(value);
                if items[..i].iter().any(|earlier| key_of(earlier) == key) {
                    let shown: Map<String, Value> = schema.list_map_keys.iter().cloned().zip(key.iter().cloned()).collect();
                    errors.push(FieldError { field: format!("{path}[{i}]"), kind: ErrorType::Duplicate, value: Value::Object(shown).to_string(), detail: String::new() });
                }
            }
        }
        _ => {}
    }
}

fn values(schema: &Structural, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let v = &schema.values;
    if !v.enumeration.is_empty() && !v.enumeration.contains(value) {
        let supported: Vec<String> = v.enumeration.iter().map(Value::to_string).collect();
        errors.push(FieldError { field: shown(path).into(), kind: ErrorType::NotSupported, value: value.to_string(), detail: format!("supported values: {}", supported.join(", ")) });
    }
    if let Some(n) = value.as_f64() {
        let p = shown(path);
        if let Some(min) = v.minimum {
            if n < min || (v.exclusive_minimum && n == min) {
                let op = if v.exclusive_minimum { "greater than" } else { "greater than or equal to" };
                errors.push(invalid(path, value, format!("{p} in body should be {op} {min}")));
            }
        }
        if let Some(max) = v.maximum {
            if n > max || (v.exclusive_maximum && n == max) {
                let op = if v.exclusive_maximum { "less than" } else { "less than or equal to" };
                errors.push(invalid(path, value, format!("{p} in body should be {op} {max}")));
            }
        }
        if let Some(m) = v.multiple_of.filter(|m| *m != 0.0 && (n / m).fract() != 0.0) {
            errors.push(invalid(path, value, format!("{p} in body should be a multiple of {m}")));
        }
    }
    if let Some(s) = value.as_str() {
        let p = shown(path);
        let chars = s.chars().count() as u64;
        if let Some(min) = v.min_length.filter(|m| chars < *m) {
            errors.push(invalid(path, value, format!("{p} in body should be at least {min} chars long")));
        }
        if let Some(max) = v.max_length.filter(|m| chars > *m) {
            errors.push(invalid(path, value, format!("{p} in body should be at most {max} chars long")));
        }
        if let Some(pattern) = &v.pattern {
            // An unparseable pattern was reported when the definition was written.
            if regex_lite::Regex::new(pattern).is_ok_and(|re| !re.is_match(s)) {
                errors.push(invalid(path, value, format!("{p} in body should match '{pattern}'")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Structural {
        Structural::read(
            &json!({"type": "object", "properties": {
                "spec": {"type": "object", "required": ["image"], "properties": {
                    "image": {"type": "string", "pattern": "^[a-z]+$"},
                    "replicas": {"type": "integer", "default": 1, "minimum": 0, "maximum": 10},
                    "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
                    "port": {"x-kubernetes-int-or-string": true},
                    "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}}}},
                "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}),
            "schema",
        )
        .unwrap()
    }

    #[test]
    fn unknown_fields_are_pruned_and_named() {
        let mut o = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}, "bogus": 1,
            "spec": {"image": "a", "extra": true, "free": {"any": {"thing": 1}}, "labels": {"k": "v"},
                "ports": [{"name": "http", "port": 80, "nope": 1}],
                "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "junk": 2}}});
        let pruned = prune(&schema(), &mut o);
        assert_eq!(pruned, vec!["bogus", "spec.extra", "spec.ports[0].nope", "spec.template.junk"]);
        assert_eq!(o["spec"]["free"]["any"]["thing"], 1);
        assert_eq!(o["spec"]["template"]["kind"], "Pod");
        assert_eq!(o["metadata"]["name"], "a");
    }

    /// KubeVela's own definitions declare `metadata: {type: object}`: names and labels stay.
    #[test]
    fn metadata_declared_as_a_bare_object_is_not_pruned() {
        let schema = Structural::read(&json!({"type": "object", "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}}}), "schema").unwrap();
        let mut o = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a", "labels": {"k": "v"}}, "spec": {}});
        assert!(prune(&schema, &mut o).is_empty());
        assert_eq!(o["metadata"], json!({"name": "a", "labels": {"k": "v"}}));
    }

    #[test]
    fn defaults_fill_missing_fields() {
        let mut o = json!({"spec": {"image": "a", "replicas": null}});
        default(&schema(), &mut o);
        assert_eq!((o["spec"]["replicas"].clone(), o["spec"]["mode"].clone()), (json!(1), json!("safe")));
    }

    #[test]
    fn violations_name_their_fields() {
        let o = json!({"metadata": {"name": "a"}, "spec": {"replicas": 11, "mode": "slow", "port": true, "image": "A1",
            "ports": [{"name": "a"}, {"name": "a"}], "labels": {"k": 1}}, "status": {"ready": "yes"}});
        let errors = validate(&schema(), &o);
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for wanted in [
            "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
            "spec.mode: Unsupported value: \"slow\": supported values: \"fast\", \"safe\"",
            "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer or string: \"boolean\"",
            "spec.image: Invalid value: \"A1\": spec.image in body should match '^[a-z]+$'",
            "spec.ports[1]: Duplicate value: {\"name\":\"a\"}",
            "spec.labels.k: Invalid value: \"integer\": spec.labels.k in body must be of type string: \"integer\"",
            "status.ready: Invalid value: \"string\": status.ready in body must be of type boolean: \"string\"",
        ] {
            assert!(shown.iter().any(|s| s == wanted), "{wanted}\nnot in {shown:#?}");
        }
        let missing = validate(&schema(), &json!({"spec": {"template": {"spec": {}}}}));
        let shown: Vec<String> = missing.iter().map(ToString::to_string).collect();
        assert!(shown.contains(&"spec.image: Required value".to_string()), "{shown:?}");
        assert!(shown.contains(&"spec.template.kind: Required value: must not be empty in an embedded resource".to_string()), "{shown:?}");
        assert!(validate(&schema(), &json!({"spec": {"image": "ok", "port": "http"}})).is_empty());
    }
}
