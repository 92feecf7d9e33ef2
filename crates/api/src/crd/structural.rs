//! Structural OpenAPI v3 schemas, as CustomResourceDefinitions declare them: reading a
//! version's `openAPIV3Schema` into a [`Structural`] tree, and rejecting the schemas
//! Kubernetes calls non-structural (a field without a type, `$ref`, an array without
//! `items`, `properties` together with `additionalProperties`, types inside `anyOf` …),
//! each reason a [`FieldError`] at the schema's own path.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::validation::{ErrorType, FieldError};

/// One node of a structural schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Structural {
    /// `object`, `array`, `string`, `integer`, `number`, `boolean`; empty for
    /// int-or-string and for preserved values of any type.
    pub kind: String,
    pub properties: BTreeMap<String, Structural>,
    /// `additionalProperties` with a schema: a map whose values all have it.
    pub additional: Option<Box<Structural>>,
    pub items: Option<Box<Structural>>,
    pub required: Vec<String>,
    pub default: Option<Value>,
    pub nullable: bool,
    /// `x-kubernetes-preserve-unknown-fields`: fields the schema does not name are kept.
    pub preserve_unknown: bool,
    /// `x-kubernetes-embedded-resource`: an object with its own apiVersion, kind and metadata.
    pub embedded: bool,
    /// `x-kubernetes-int-or-string`: an integer or a string.
    pub int_or_string: bool,
    /// `x-kubernetes-list-type`: `atomic`, `set` or `map`.
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    pub values: Values,
}

/// The value validations of a node (what is checked, not what is kept).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values {
    pub enumeration: Vec<Value>,
    pub pattern: Option<String>,
    pub format: Option<String>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub multiple_of: Option<f64>,
}

const TYPES: [&str; 6] = ["object", "array", "string", "integer", "number", "boolean"];

/// Keywords a structural schema may not use anywhere.
const FORBIDDEN: [&str; 4] = ["$ref", "definitions", "dependencies", "patternProperties"];

/// Keywords that shape a value and so may not appear under `allOf`, `anyOf`, `oneOf` or `not`.
const STRUCTURE_KEYWORDS: [&str; 7] = ["type", "properties", "additionalProperties", "items", "default", "nullable", "x-kubernetes-preserve-unknown-fields"];

impl Structural {
    /// Reads the `openAPIV3Schema` at `path` (for error paths); the reasons it is not
    /// structural otherwise.
    pub fn read(schema: &Value, path: &str) -> Result<Structural, Vec<FieldError>> {
        let mut errors = Vec::new();
        let root = read_node(schema, path, &mut errors);
        if root.kind != "object" {
            errors.push(FieldError {
                field: format!("{path}.type"),
                kind: ErrorType::Invalid,
                value: format!("{:?}", root.kind),
                detail: "must be object at the root".into(),
            });
        }
        if let Some(meta) = root.properties.get("metadata") {
            let extra: Vec<&String> = meta.properties.keys().filter(|k| *k != "name" && *k != "generateName").collect();
            if !extra.is_empty() {
                errors.push(forbidden(
                    &format!("{path}.properties[metadata]"),
                    &format!("must not specify anything other than name and generateName, but metadata properties {extra:?} are specified"),
                ));
            }
        }
        if errors.is_empty() { Ok(root) } else { Err(errors) }
    }

    /// Whether values of this node are objects whose unknown fields are dropped.
    pub fn prunes(&self) -> bool {
        !self.preserve_unknown && self.additional.is_none()
    }

    /// The node at a dotted field path (`spec.replicas`), through object properties only.
    pub fn field(&self, path: &[&str]) -> Option<&Structural> {
        path.iter().try_fold(self, |node, name| node.properties.get(*name))
    }
}

fn forbidden(field: &str, detail: &str) -> FieldError {
    FieldError { field: field.into(), kind: ErrorType::Invalid, value: String::new(), detail: detail.into() }
}

fn read_node(schema: &Value, path: &str, errors: &mut Vec<FieldError>) -> Structural {
    let Some(map) = schema.as_object() else {
        errors.push(forbidden(path, "must be a schema object"));
        return Structural::default();
    };
    for keyword in FORBIDDEN {
        if map.contains_key(keyword) {
            errors.push(forbidden(&format!("{path}.{keyword}"), "must not be set in a structural schema"));
        }
    }
    let flag = |name: &str| map.get(name).and_then(Value::as_bool).unwrap_or(false);
    let mut node = Structural {
        kind: map.get("type").and_then(Value::as_str).unwrap_or_default().to_string(),
        nullable: flag("nullable"),
        preserve_unknown: flag("x-kubernetes-preserve-unknown-fields"),
        embedded: flag("x-kubernetes-embedded-resource"),
        int_or_string: flag("x-kubernetes-int-or-string"),
        default: map.get("default").cloned(),
        required: strings(map.get("required")),
        list_type: map.get("x-kubernetes-list-type").and_then(Value::as_str).map(str::to_string),
        list_map_keys: strings(map.get("x-kubernetes-list-map-keys")),
        values: values(map),
        ..Structural::default()
    };
    if !node.kind.is_empty() && !TYPES.contains(&node.kind.as_str()) {
        errors.push(FieldError {
            field: format!("{path}.type"),
            kind: ErrorType::NotSupported,
            value: format!("{:?}", node.kind),
            detail: format!("supported values: {}", TYPES.map(|t| format!("{t:?}")).join(", ")),
        });
    }
    if node.kind.is_empty() && !node.int_or_string && !node.preserve_unknown {
        errors.push(FieldError {
            field: format!("{path}.type"),
            kind: ErrorType::Required,
            value: String::new(),
            detail: "must not be empty for specified object fields".into(),
        });
    }
    if node.int_or_string && !node.kind.is_empty() {
        errors.push(forbidden(&format!("{path}.type"), "must be empty with x-kubernetes-int-or-string"));
    }
    if node.embedded && node.kind != "object" {
        errors.push(forbidden(&format!("{path}.type"), "must be object if x-kubernetes-embedded-resource is true"));
    }
    if let Some(Value::Object(props)) = map.get("properties") {
        if node.kind != "object" && !node.kind.is_empty() {
            errors.push(forbidden(&format!("{path}.properties"), &format!("must be empty for type {:?}", node.kind)));
        }
        for (name, sub) in props {
            node.properties.insert(name.clone(), read_node(sub, &format!("{path}.properties[{name}]"), errors));
        }
    }
    match map.get("additionalProperties") {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => errors.push(forbidden(&format!("{path}.additionalProperties"), "must not be false: leave it out to prune unknown fields")),
        Some(sub) => {
            if map.contains_key("properties") {
                errors.push(forbidden(&format!("{path}.additionalProperties"), "additionalProperties and properties are mutually exclusive"));
            }
            node.additional = Some(Box::new(read_node(sub, &format!("{path}.additionalProperties"), errors)));
        }
    }
    if map.get("additionalProperties") == Some(&Value::Bool(true)) {
        node.preserve_unknown = true;
    }
    match map.get("items") {
        Some(Value::Array(_)) => errors.push(forbidden(&format!("{path}.items"), "must be a schema object and not an array")),
        Some(items) => node.items = Some(Box::new(read_node(items, &format!("{path}.items"), errors))),
        None if node.kind == "array" => errors.push(FieldError {
            field: format!("{path}.items"),
            kind: ErrorType::Required,
            value: String::new(),
            detail: "must be specified".into(),
        }),
        None => {}
    }
    for junctor in ["allOf", "anyOf", "oneOf"] {
        for (i, sub) in map.get(junctor).and_then(Value::as_array).into_iter().flatten().enumerate() {
            junctor_branch(sub, &format!("{path}.{junctor}[{i}]"), node.int_or_string, errors);
        }
    }
    if let Some(sub) = map.get("not") {
        junctor_branch(sub, &format!("{path}.not"), false, errors);
    }
    if node.list_type.as_deref() == Some("map") && node.list_map_keys.is_empty() {
        errors.push(FieldError {
            field: format!("{path}.x-kubernetes-list-map-keys"),
            kind: ErrorType::Required,
            value: String::new(),
            detail: "must not be empty if x-kubernetes-list-type is map".into(),
        });
    }
    if let Some(list_type) = &node.list_type {
        if !["atomic", "set", "map"].contains(&list_type.as_str()) {
            errors.push(FieldError {
                field: format!("{path}.x-kubernetes-list-type"),
                kind: ErrorType::NotSupported,
                value: format!("{list_type:?}"),
                detail: "supported values: \"atomic\", \"set\", \"map\"".into(),
            });
        }
    }
    node
}

/// A branch of `allOf`/`anyOf`/`oneOf`/`not` may only validate values, never shape them
/// (the int-or-string idiom `anyOf: [{type: integer}, {type: string}]` aside).
fn junctor_branch(sub: &Value, path: &str, int_or_string: bool, errors: &mut Vec<FieldError>) {
    let Some(map) = sub.as_object() else { return };
    for keyword in STRUCTURE_KEYWORDS {
        let allowed = int_or_string && keyword == "type" && matches!(map.get("type").and_then(Value::as_str), Some("integer" | "string"));
        if map.contains_key(keyword) && !allowed {
            errors.push(forbidden(&format!("{path}.{keyword}"), "must not be set inside allOf, anyOf, oneOf or not: those only validate"));
        }
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

fn values(map: &Map<String, Value>) -> Values {
    let num = |k: &str| map.get(k).and_then(Value::as_f64);
    let count = |k: &str| map.get(k).and_then(Value::as_u64);
    Values {
        enumeration: map.get("enum").and_then(Value::as_array).cloned().unwrap_or_default(),
        pattern: map.get("pattern").and_then(Value::as_str).map(str::to_string),
        format: map.get("format").and_then(Value::as_str).map(str::to_string),
        minimum: num("minimum"),
        maximum: num("maximum"),
        exclusive_minimum: map.get("exclusiveMinimum").and_then(Value::as_bool).unwrap_or(false),
        exclusive_maximum: map.get("exclusiveMaximum").and_then(Value::as_bool).unwrap_or(false),
        min_length: count("minLength"),
        max_length: count("maxLength"),
        min_items: count("minItems"),
        max_items: count("maxItems"),
        min_properties: count("minProperties"),
        max_properties: count("maxProperties"),
        multiple_of: num("multipleOf"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_structural_schema_reads() {
        let s = Structural::read(
            &json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "replicas": {"type": "integer", "default": 1, "minimum": 0},
                "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}),
            "schema",
        )
        .unwrap();
        let replicas = s.field(&["spec", "replicas"]).unwrap();
        assert_eq!((replicas.kind.as_str(), replicas.default.clone()), ("integer", Some(json!(1))));
        assert!(s.field(&["spec", "port"]).unwrap().int_or_string);
        assert!(!s.field(&["spec", "extra"]).unwrap().prunes());
    }

    #[test]
    fn non_structural_schemas_are_rejected_with_reasons() {
        let errors = Structural::read(
            &json!({"type": "object", "properties": {
                "spec": {"properties": {"a": {"type": "string"}}},
                "list": {"type": "array"},
                "ref": {"$ref": "#/definitions/x", "type": "object"},
                "mixed": {"type": "object", "anyOf": [{"type": "string"}]},
                "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}),
            "spec.validation.openAPIV3Schema",
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for wanted in [
            "spec.validation.openAPIV3Schema.properties[spec].type",
            "spec.validation.openAPIV3Schema.properties[list].items",
            "spec.validation.openAPIV3Schema.properties[ref].$ref",
            "spec.validation.openAPIV3Schema.properties[mixed].anyOf[0].type",
            "spec.validation.openAPIV3Schema.properties[metadata]",
        ] {
            assert!(fields.contains(&wanted), "{wanted} missing from {fields:?}");
        }
        assert!(Structural::read(&json!({"type": "string"}), "s").is_err());
    }
}
