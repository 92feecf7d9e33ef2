//! Writes of CustomResourceDefinitions: a definition that cannot be served is refused with
//! a 422 naming each field at fault; one that can gets the status the real API server's
//! controllers give it (accepted names, stored versions, the NamesAccepted and Established
//! conditions), decided at write time so its kind is served as soon as the write returns.

use serde_json::{json, Value};
use tug_api::crd::{self, Definition};
use tug_api::{registry, ResourceType};

use super::CustomKinds;
use crate::object::meta_str;
use crate::status::{ApiError, ApiResult};

/// Checks a definition about to be stored (`old` on update) and sets its status; what it
/// declares that tug does not enforce becomes a warning.
pub fn admit(kinds: &CustomKinds, rt: &ResourceType, key: &str, object: &mut Value, old: Option<&Value>, warnings: &mut Vec<String>) -> ApiResult<()> {
    let name = meta_str(object, "name").unwrap_or_default().to_string();
    let definition = crd::read(object).map_err(|errors| ApiError::invalid(rt, &name, &errors))?;
    for (i, version) in definition.versions.iter().enumerate() {
        let mut rules = Vec::new();
        cel_rules(&version.openapi, &format!("spec.versions[{i}].schema.openAPIV3Schema"), &mut rules);
        warnings.extend(rules.into_iter().map(|path| {
            format!("{path}.x-kubernetes-validations: CEL rules are not enforced by tug (it has no CEL evaluator yet); objects are checked against the rest of the schema only")
        }));
    }
    if let Some(old) = old {
        let old_scope = old.pointer("/spec/scope");
        if old_scope != object.pointer("/spec/scope") {
            let error = tug_api::FieldError {
                field: "spec.scope".into(),
                kind: tug_api::validation::ErrorType::Invalid,
                value: object.pointer("/spec/scope").map(Value::to_string).unwrap_or_default(),
                detail: "field is immutable".into(),
            };
            return Err(ApiError::invalid(rt, &name, &[error]));
        }
    }
    let conflict = conflict(kinds, key, &definition);
    let now = crate::object::now();
    let previous = old.and_then(|o| o.pointer("/status/conditions")).and_then(Value::as_array).cloned().unwrap_or_default();
    let condition = |kind: &str, ok: bool, reason: &str, message: &str| {
        let status = if ok { "True" } else { "False" };
        // The transition time moves only when the condition's status does.
        let since = previous
            .iter()
            .find(|c| c["type"] == kind && c["status"] == status)
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now));
        json!({"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": since})
    };
    let names_accepted = match &conflict {
        None => condition("NamesAccepted", true, "NoConflicts", "no conflicts found"),
        Some(why) => condition("NamesAccepted", false, "ConflictingNames", why),
    };
    let multi_version = definition.versions.iter().filter(|v| v.served).count() > 1;
    let established = if conflict.is_some() {
        condition("Established", false, "NotAccepted", "not all names are accepted")
    } else if definition.webhook_conversion && multi_version {
        condition("Established", false, "WebhookConversionNotSupported", "spec.conversion.strategy Webhook is not supported by tug: use None (objects keep their fields and only change apiVersion) or serve a single version")
    } else {
        condition("Established", true, "InitialNamesAccepted", "the initial names have been accepted")
    };
    let mut stored: Vec<Value> = old.and_then(|o| o.pointer("/status/storedVersions")).and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(storage) = definition.versions.iter().find(|v| v.storage) {
        if !stored.contains(&json!(storage.name)) {
            stored.push(json!(storage.name));
        }
    }
    let mut accepted = json!({"plural": definition.plural, "singular": definition.singular, "kind": definition.kind, "listKind": definition.list_kind});
    if !definition.short_names.is_empty() {
        accepted["shortNames"] = json!(definition.short_names);
    }
    if !definition.categories.is_empty() {
        accepted["categories"] = json!(definition.categories);
    }
    object["status"] = json!({"conditions": [names_accepted, established], "acceptedNames": accepted, "storedVersions": stored});
    Ok(())
}

/// The schema paths that carry CEL rules (`x-kubernetes-validations`).
fn cel_rules(schema: &Value, path: &str, out: &mut Vec<String>) {
    let Some(map) = schema.as_object() else { return };
    if map.contains_key("x-kubernetes-validations") {
        out.push(path.to_string());
    }
    for (name, sub) in map.get("properties").and_then(Value::as_object).into_iter().flatten() {
        cel_rules(sub, &format!("{path}.properties[{name}]"), out);
    }
    for keyword in ["items", "additionalProperties"] {
        if let Some(sub) = map.get(keyword) {
            cel_rules(sub, &format!("{path}.{keyword}"), out);
        }
    }
}

/// Why the definition's names clash with a built-in kind or another definition, if they do.
fn conflict(kinds: &CustomKinds, key: &str, def: &Definition) -> Option<String> {
    let builtin = registry::all().iter().find(|t| t.group == def.group && (t.plural == def.plural || t.kind == def.kind));
    if let Some(t) = builtin {
        return Some(format!("{}.{} is already served by the API server itself", t.plural, t.group));
    }
    for other in kinds.others(key).iter().filter(|o| o.group == def.group) {
        if other.plural == def.plural {
            return Some(format!("\"{}\" is already in use", def.plural));
        }
        if other.kind == def.kind {
            return Some(format!("\"{}\" is already in use", def.kind));
        }
        if other.list_kind == def.list_kind {
            return Some(format!("\"{}\" is already in use", def.list_kind));
        }
        let names = |d: &Definition| -> Vec<String> {
            let mut n = d.short_names.clone();
            n.push(d.singular.clone());
            n.push(d.plural.clone());
            n
        };
        let theirs = names(other);
        if let Some(taken) = names(def).into_iter().find(|n| theirs.contains(n)) {
            return Some(format!("\"{taken}\" is already in use"));
        }
    }
    None
}
