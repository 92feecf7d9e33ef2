//! CustomResourceDefinitions (`apiextensions.k8s.io/v1`): reading a definition into the
//! resource types it serves, with the field-path errors kube-apiserver gives for a bad one
//! (name not `<plural>.<group>`, no storage version, a missing or non-structural schema …),
//! and handling custom resources against a version's schema ([`objects`]: pruning,
//! defaulting, validation; [`structural`]: the schema itself).
//!
//! A served version is a [`ResourceType`] like any built-in one, so every handler serves it
//! unchanged. Its strings must live as long as the built-in table's: each distinct type is
//! made once per process and reused ([`intern`]), so re-reading a definition allocates
//! nothing new.

pub mod objects;
pub mod structural;

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::registry::{self, ResourceType};
use crate::validation::{self, ErrorType, FieldError};
use structural::Structural;

/// A definition as served: its names and the versions it serves.
#[derive(Debug, Clone)]
pub struct Definition {
    pub group: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// Every version, served or not, in the definition's order.
    pub versions: Vec<Version>,
    /// `spec.conversion.strategy: Webhook`, which tug does not run.
    pub webhook_conversion: bool,
}

/// One version of a definition.
#[derive(Debug, Clone)]
pub struct Version {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub rt: &'static ResourceType,
    pub schema: Structural,
    /// The `openAPIV3Schema` as written, for the published OpenAPI documents.
    pub openapi: Value,
    /// The schema as a one-definition document, for [`Version::schema_root`].
    document: Value,
    pub columns: Vec<PrinterColumn>,
    pub scale: Option<ScalePaths>,
}

/// An `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    /// `integer`, `number`, `string`, `boolean` or `date`.
    pub kind: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    /// A simple JSONPath such as `.spec.replicas` or `.status.conditions[0].type`.
    pub json_path: String,
}

/// Where the scale subresource reads and writes (`subresources.scale`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// The value at a simple JSONPath (`.spec.replicas`, `.status.conditions[0].type`).
pub fn json_path<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut current = object;
    for segment in path.trim_start_matches('.').split('.').filter(|s| !s.is_empty()) {
        let (name, mut rest) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !name.is_empty() {
            current = current.get(name)?;
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            current = current.get(inner[..end].parse::<usize>().ok()?)?;
            rest = &inner[end + 1..];
        }
    }
    Some(current)
}

/// Sets the value at a dotted JSONPath (`.spec.replicas`), making the objects on the way.
pub fn set_json_path(object: &mut Value, path: &str, value: Value) {
    let mut current = object;
    let names: Vec<&str> = path.trim_start_matches('.').split('.').filter(|s| !s.is_empty()).collect();
    let Some((last, parents)) = names.split_last() else { return };
    for name in parents {
        if !current.get(*name).is_some_and(Value::is_object) {
            current[*name] = json!({});
        }
        current = &mut current[*name];
    }
    if current.is_object() {
        current[*last] = value;
    }
}

/// `object` with the `apiVersion` of the version it is read or written as (the `None`
/// conversion strategy).
pub fn convert_none(mut object: Value, api_version: &str) -> Value {
    if let Some(fields) = object.as_object_mut() {
        fields.insert("apiVersion".into(), json!(api_version));
    }
    object
}

fn err(field: &str, kind: ErrorType, value: &str, detail: &str) -> FieldError {
    FieldError { field: field.into(), kind, value: value.into(), detail: detail.into() }
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn strings_at(value: &Value, pointer: &str) -> Vec<String> {
    value.pointer(pointer).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

/// Reads a CustomResourceDefinition object; every reason it cannot be served otherwise.
pub fn read(crd: &Value) -> Result<Definition, Vec<FieldError>> {
    let mut errors = Vec::new();
    let group = str_at(crd, "/spec/group").to_string();
    let plural = str_at(crd, "/spec/names/plural").to_string();
    let kind = str_at(crd, "/spec/names/kind").to_string();
    if group.is_empty() {
        errors.push(err("spec.group", ErrorType::Required, "", ""));
    } else if let Some(why) = validation::dns1123_subdomain(&group) {
        errors.push(err("spec.group", ErrorType::Invalid, &quoted(&group), &why));
    } else if !group.contains('.') {
        errors.push(err("spec.group", ErrorType::Invalid, &quoted(&group), "should be a domain with at least one dot"));
    }
    for (field, value) in [("plural", &plural), ("singular", &str_at(crd, "/spec/names/singular").to_string())] {
        if field == "plural" && value.is_empty() {
            errors.push(err("spec.names.plural", ErrorType::Required, "", ""));
        } else if let Some(why) = Some(value).filter(|v| !v.is_empty()).and_then(|v| validation::dns1123_label(v)) {
            errors.push(err(&format!("spec.names.{field}"), ErrorType::Invalid, &quoted(value), &why));
        }
    }
    if kind.is_empty() {
        errors.push(err("spec.names.kind", ErrorType::Required, "", ""));
    }
    let name = str_at(crd, "/metadata/name");
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        errors.push(err("metadata.name", ErrorType::Invalid, &quoted(name), &format!("must be spec.names.plural+\".\"+spec.group ({plural}.{group})")));
    }
    let scope = str_at(crd, "/spec/scope");
    if !["Namespaced", "Cluster"].contains(&scope) {
        errors.push(err("spec.scope", ErrorType::NotSupported, &quoted(scope), "supported values: \"Cluster\", \"Namespaced\""));
    }
    let strategy = crd.pointer("/spec/conversion/strategy").and_then(Value::as_str).unwrap_or("None");
    if !["None", "Webhook"].contains(&strategy) {
        errors.push(err("spec.conversion.strategy", ErrorType::NotSupported, &quoted(strategy), "supported values: \"None\", \"Webhook\""));
    }
    let definition = Definition {
        singular: Some(str_at(crd, "/spec/names/singular")).filter(|s| !s.is_empty()).map_or_else(|| kind.to_ascii_lowercase(), str::to_string),
        list_kind: Some(str_at(crd, "/spec/names/listKind")).filter(|s| !s.is_empty()).map_or_else(|| format!("{kind}List"), str::to_string),
        short_names: strings_at(crd, "/spec/names/shortNames"),
        categories: strings_at(crd, "/spec/names/categories"),
        namespaced: scope == "Namespaced",
        webhook_conversion: strategy == "Webhook",
        versions: Vec::new(),
        group,
        plural,
        kind,
    };
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let storage_count = versions.iter().filter(|v| v.get("storage") == Some(&json!(true))).count();
    if storage_count != 1 {
        errors.push(err("spec.versions", ErrorType::Invalid, &storage_count.to_string(), "must have exactly one version marked as storage version"));
    }
    let mut seen = HashSet::new();
    let mut read_versions = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        if let Some(version) = read_version(&definition, v, &format!("spec.versions[{i}]"), &mut seen, &mut errors) {
            read_versions.push(version);
        }
    }
    if errors.is_empty() {
        Ok(Definition { versions: read_versions, ..definition })
    } else {
        Err(errors)
    }
}

fn read_version(def: &Definition, v: &Value, path: &str, seen: &mut HashSet<String>, errors: &mut Vec<FieldError>) -> Option<Version> {
    let name = str_at(v, "/name").to_string();
    if name.is_empty() {
        errors.push(err(&format!("{path}.name"), ErrorType::Required, "", ""));
    } else if let Some(why) = validation::dns1035_label(&name) {
        errors.push(err(&format!("{path}.name"), ErrorType::Invalid, &quoted(&name), &why));
    } else if !seen.insert(name.clone()) {
        errors.push(err(&format!("{path}.name"), ErrorType::Duplicate, &quoted(&name), ""));
    }
    let openapi = v.pointer("/schema/openAPIV3Schema").cloned().unwrap_or(Value::Null);
    let schema = match v.pointer("/schema/openAPIV3Schema") {
        None => {
            errors.push(err(&format!("{path}.schema.openAPIV3Schema"), ErrorType::Required, "", "schemas are required"));
            None
        }
        Some(s) => match Structural::read(s, &format!("{path}.schema.openAPIV3Schema")) {
            Ok(s) => Some(s),
            Err(reasons) => {
                errors.extend(reasons);
                None
            }
        },
    };
    if let Some(pattern) = schema.as_ref().and_then(|s| first_bad_pattern(s, &format!("{path}.schema.openAPIV3Schema"))) {
        errors.push(pattern);
    }
    let scale = v.pointer("/subresources/scale").map(|s| ScalePaths {
        spec_replicas: str_at(s, "/specReplicasPath").to_string(),
        status_replicas: str_at(s, "/statusReplicasPath").to_string(),
        label_selector: s.get("labelSelectorPath").and_then(Value::as_str).map(str::to_string),
    });
    if let Some(scale) = &scale {
        for (field, value, prefix) in [("specReplicasPath", &scale.spec_replicas, ".spec."), ("statusReplicasPath", &scale.status_replicas, ".status.")] {
            if !value.starts_with(prefix) {
                errors.push(err(&format!("{path}.subresources.scale.{field}"), ErrorType::Invalid, &quoted(value), &format!("should be a json path under {prefix}")));
            }
        }
    }
    let mut columns = Vec::new();
    for (j, c) in v.get("additionalPrinterColumns").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let column = PrinterColumn {
            name: str_at(c, "/name").to_string(),
            kind: str_at(c, "/type").to_string(),
            format: str_at(c, "/format").to_string(),
            description: str_at(c, "/description").to_string(),
            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
            json_path: str_at(c, "/jsonPath").to_string(),
        };
        let at = format!("{path}.additionalPrinterColumns[{j}]");
        if column.name.is_empty() {
            errors.push(err(&format!("{at}.name"), ErrorType::Required, "", ""));
        }
        if !["integer", "number", "string", "boolean", "date"].contains(&column.kind.as_str()) {
            errors.push(err(&format!("{at}.type"), ErrorType::NotSupported, &quoted(&column.kind), "supported values: \"integer\", \"number\", \"string\", \"boolean\", \"date\""));
        }
        if !column.json_path.starts_with('.') {
            errors.push(err(&format!("{at}.jsonPath"), ErrorType::Invalid, &quoted(&column.json_path), "must be a simple json path starting with ."));
        }
        columns.push(column);
    }
    let served = v.get("served").and_then(Value::as_bool).unwrap_or(false);
    let storage = v.get("storage").and_then(Value::as_bool).unwrap_or(false);
    let status = v.pointer("/subresources/status").is_some();
    let schema = schema?;
    if name.is_empty() || !errors.is_empty() {
        return None;
    }
    let subresources = match (status, scale.is_some()) {
        (true, true) => registry::STATUS_SCALE,
        (true, false) => registry::STATUS,
        (false, true) => registry::SCALE,
        (false, false) => registry::NO_SUB,
    };
    let rt = intern(def, &name, subresources, storage);
    let document = json!({"definitions": {"custom": openapi_with_gvk(&openapi, rt)}});
    Some(Version { name, served, storage, rt, schema, openapi, document, columns, scale })
}

fn openapi_with_gvk(schema: &Value, rt: &ResourceType) -> Value {
    let mut schema = schema.clone();
    schema["x-kubernetes-group-version-kind"] = json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}]);
    schema
}

impl Version {
    /// The version's schema as the field walker of server-side apply and patches reads it
    /// (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`).
    pub fn schema_root(&self) -> Option<crate::schema::Node<'_>> {
        crate::schema::Schema::of_document(&self.document)?.kind(self.rt.group, Some(self.rt.version), self.rt.kind)
    }
}

/// The first `pattern` in the schema that is not a regular expression, as an error.
fn first_bad_pattern(schema: &Structural, path: &str) -> Option<FieldError> {
    if let Some(p) = &schema.values.pattern {
        if let Err(e) = regex_lite::Regex::new(p) {
            return Some(err(&format!("{path}.pattern"), ErrorType::Invalid, &quoted(p), &format!("must be a valid regular expression: {e}")));
        }
    }
    schema
        .properties
        .iter()
        .find_map(|(k, s)| first_bad_pattern(s, &format!("{path}.properties[{k}]")))
        .or_else(|| schema.items.as_deref().and_then(|s| first_bad_pattern(s, &format!("{path}.items"))))
        .or_else(|| schema.additional.as_deref().and_then(|s| first_bad_pattern(s, &format!("{path}.additionalProperties"))))
}

/// A string that lives for the rest of the process, made once per distinct value.
fn intern_str(s: &str) -> &'static str {
    static STRINGS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut guard = STRINGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let set = guard.get_or_insert_with(HashSet::new);
    if let Some(found) = set.get(s) {
        return found;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// The served type of one version of a definition, made once per distinct type.
fn intern(def: &Definition, version: &str, subresources: &'static [registry::Subresource], storage: bool) -> &'static ResourceType {
    static TYPES: Mutex<Vec<&'static ResourceType>> = Mutex::new(Vec::new());
    let group = intern_str(&def.group);
    let list = |items: &[String]| -> Vec<&'static str> { items.iter().map(|s| intern_str(s)).collect() };
    let (short_names, categories) = (list(&def.short_names), list(&def.categories));
    let wanted = ResourceType {
        group,
        version: intern_str(version),
        kind: intern_str(&def.kind),
        list_kind: intern_str(&def.list_kind),
        plural: intern_str(&def.plural),
        namespaced: def.namespaced,
        short_names: &[],
        categories: &[],
        subresources,
        storage_version: storage,
        storage_group: group,
        create_only: false,
        decode: crate::decode::custom,
        custom: true,
        from_nodes: false,
    };
    let same = |t: &ResourceType| {
        (t.group, t.version, t.kind, t.list_kind, t.plural, t.namespaced, t.subresources, t.storage_version)
            == (wanted.group, wanted.version, wanted.kind, wanted.list_kind, wanted.plural, wanted.namespaced, wanted.subresources, wanted.storage_version)
            && t.short_names == short_names.as_slice()
            && t.categories == categories.as_slice()
    };
    let mut types = TYPES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = types.iter().find(|t| same(t)) {
        return found;
    }
    let made: &'static ResourceType = Box::leak(Box::new(ResourceType {
        short_names: Box::leak(short_names.into_boxed_slice()),
        categories: Box::leak(categories.into_boxed_slice()),
        ..wanted
    }));
    types.push(made);
    made
}

#[cfg(test)]
mod tests;
