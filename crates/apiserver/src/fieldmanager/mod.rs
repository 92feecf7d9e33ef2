//! Server-side apply and `metadata.managedFields`: who owns which fields of an object.
//!
//! Every write records its field manager. An update (create, PUT, and the JSON, merge and
//! strategic patches) gives its manager — `?fieldManager=`, else the User-Agent's program
//! name, as kube-apiserver does — the fields it changed, in an `Update` entry, and takes
//! them from the other managers. An apply (`application/apply-patch+yaml`) merges the
//! applied configuration into the live object by the type's list and map semantics
//! (`tug_api::schema`), refuses with 409 to change a value another manager owns unless
//! forced, removes what the manager applied before and no longer applies when no one
//! else owns it, and makes the applied fields the manager's `Apply` entry. Field sets are
//! in [`fieldset`]. Pure functions over JSON values; the handlers do the I/O.

mod fieldset;

use axum::http::{header, HeaderMap};
use serde_json::{json, Map, Value};
use tug_api::schema::{ListType, Node};
use tug_api::{ResourceType, Subresource};

use crate::request::Query;
use crate::status::{ApiError, ApiResult};
use fieldset::{field, FieldSet, Path};

/// The content types of an apply patch.
pub fn is_apply(headers: &HeaderMap) -> bool {
    matches!(crate::body::content_type(headers).as_str(), "application/apply-patch+yaml" | "application/apply-patch+json")
}

/// The manager an update is recorded under: `?fieldManager=`, else the client program's name
/// from the User-Agent (`kubectl-edit/v1.33.0 (linux/amd64) …` → `kubectl-edit`).
pub fn update_manager(query: &Query, headers: &HeaderMap) -> String {
    if let Some(manager) = query.get("fieldManager") {
        return manager.to_string();
    }
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    match agent.split('/').next().map(str::trim) {
        Some(program) if !program.is_empty() => program.chars().take(128).collect(),
        _ => "unknown".to_string(),
    }
}

/// The manager of an apply: `?fieldManager=` is required (422 as kube-apiserver words it).
pub fn apply_manager(query: &Query) -> ApiResult<String> {
    query.get("fieldManager").map(str::to_string).ok_or_else(|| patch_options_invalid("fieldManager", "Required value", "is required for apply patch"))
}

/// `force` is for applies only.
pub fn check_not_forced(query: &Query) -> ApiResult<()> {
    match query.get("force") {
        Some(_) => Err(patch_options_invalid("force", "Forbidden", "may not be specified for non-apply patch")),
        None => Ok(()),
    }
}

fn patch_options_invalid(field: &str, reason: &str, detail: &str) -> ApiError {
    let cause_reason = if reason == "Forbidden" { "FieldValueForbidden" } else { "FieldValueRequired" };
    ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("PatchOptions.meta.k8s.io \"\" is invalid: {field}: {reason}: {detail}"),
        details: Some(json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": cause_reason, "message": format!("{reason}: {detail}"), "field": field}]})),
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<Value>,
    subresource: String,
    fields: FieldSet,
}

impl Entry {
    fn same_owner(&self, manager: &str, operation: &str, api_version: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource && (operation == "Apply" || self.api_version == api_version)
    }

    fn to_json(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("manager".into(), json!(self.manager));
        entry.insert("operation".into(), json!(self.operation));
        entry.insert("apiVersion".into(), json!(self.api_version));
        if let Some(time) = &self.time {
            entry.insert("time".into(), time.clone());
        }
        entry.insert("fieldsType".into(), json!("FieldsV1"));
        entry.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            entry.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(entry)
    }

    /// How conflicts name this manager, as kube-apiserver prints it.
    fn describe(&self) -> String {
        let name = format!("{:?}", self.manager);
        match (self.operation.as_str(), &self.time) {
            ("Update", Some(Value::String(time))) => format!("{name} using {} at {time}", self.api_version),
            ("Update", _) => format!("{name} using {}", self.api_version),
            _ if !self.subresource.is_empty() => format!("{name} with subresource {:?}", self.subresource),
            _ => name,
        }
    }
}

fn entries(object: &Value) -> Vec<Entry> {
    let Some(Value::Array(list)) = object.pointer("/metadata/managedFields") else { return Vec::new() };
    let text = |e: &Value, f: &str| e.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
    list.iter()
        .filter_map(|e| {
            Some(Entry {
                manager: text(e, "manager"),
                operation: text(e, "operation"),
                api_version: text(e, "apiVersion"),
                time: e.get("time").cloned(),
                subresource: text(e, "subresource"),
                fields: FieldSet::from_fields_v1(e.get("fieldsV1").unwrap_or(&json!({})))?,
            })
        })
        .collect()
}

fn set_entries(object: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries.iter().filter(|e| !e.fields.is_empty()).map(Entry::to_json).collect();
    let meta = crate::object::meta_mut(object);
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// The fields of `object` a write through `subresource` can own: never the identity and
/// server-set metadata; through `status` only the status; through the main resource not the
/// status of a type with a status subresource.
fn owned_set(rt: &ResourceType, schema: Option<Node<'_>>, subresource: &str, object: &Value, maps_as_members: bool) -> FieldSet {
    let meta = |f: &str| vec![field("metadata"), field(f)];
    let mut ignored: Vec<Path> = vec![vec![field("apiVersion")], vec![field("kind")]];
    for f in ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"] {
        ignored.push(meta(f));
    }
    let set = FieldSet::of(object, schema, maps_as_members).without_prefixes(&ignored);
    match subresource {
        "status" => set.only_under(&vec![field("status")]),
        _ if rt.has(Subresource::Status) => set.without_prefixes(&[vec![field("status")]]),
        _ => set,
    }
}

/// Who is writing: the manager, the request's API version and subresource.
pub struct Writer<'a> {
    pub rt: &'static ResourceType,
    /// The schema objects of `rt` are walked with (list types, map keys): the built-in
    /// kind's, or a custom kind's version's.
    pub schema: Option<Node<'a>>,
    pub subresource: &'a str,
    pub manager: &'a str,
    pub now: &'a str,
}

/// Records an update of `old` (`None` for a create) into `new`'s managedFields. Entries the
/// client sent in `new` that differ from the stored ones replace them, as in Kubernetes
/// (that is how kubectl moves client-side-apply ownership to server-side apply).
pub fn record_update(writer: &Writer<'_>, old: Option<&Value>, new: &mut Value) {
    let sent = new.pointer("/metadata/managedFields");
    let mut list = match (sent, old) {
        (Some(sent), Some(old)) if Some(sent) != old.pointer("/metadata/managedFields") => entries(new),
        (_, Some(old)) => entries(old),
        (_, None) => entries(new),
    };
    let new_set = owned_set(writer.rt, writer.schema, writer.subresource, new, true);
    let old_set = old.map(|o| owned_set(writer.rt, writer.schema, writer.subresource, o, true)).unwrap_or_default();
    let empty = json!({});
    let old_value = old.unwrap_or(&empty);
    let changed: Vec<&Path> = new_set
        .0
        .iter()
        .filter(|p| match fieldset::get(old_value, p) {
            None => true,
            // A member with members below it (a keyed element, a map) changes through them.
            Some(before) => !has_members_below(&new_set, p) && Some(before) != fieldset::get(new, p),
        })
        .collect();
    let removed: Vec<&Path> = old_set.0.iter().filter(|p| !new_set.contains(p)).collect();
    if changed.is_empty() && removed.is_empty() {
        set_entries(new, &list);
        return;
    }
    let api_version = writer.rt.api_version();
    for entry in &mut list {
        for p in changed.iter().chain(&removed) {
            entry.fields.0.remove(*p);
        }
    }
    let position = list.iter().position(|e| e.same_owner(writer.manager, "Update", &api_version, writer.subresource));
    let entry = match position {
        Some(i) => &mut list[i],
        None => {
            list.push(Entry { manager: writer.manager.to_string(), operation: "Update".into(), api_version: api_version.clone(), time: None, subresource: writer.subresource.to_string(), fields: FieldSet::default() });
            list.last_mut().expect("just pushed")
        }
    };
    entry.fields.0.extend(changed.into_iter().cloned());
    entry.time = Some(json!(writer.now));
    set_entries(new, &list);
}

fn has_members_below(set: &FieldSet, path: &Path) -> bool {
    set.0.range(path.clone()..).nth(1).is_some_and(|p| p.starts_with(path))
}

/// Server-side apply of `applied` by `writer.manager` over `live` (`None` when the object does
/// not exist yet): the object to write, managedFields included. 409 on conflicts unless `force`.
pub fn apply(writer: &Writer<'_>, live: Option<&Value>, mut applied: Value, force: bool) -> ApiResult<Value> {
    if !applied.is_object() {
        return Err(ApiError::bad_request("an apply patch must be an object"));
    }
    if applied.pointer("/metadata/managedFields").is_some() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil in an apply patch"));
    }
    let node = writer.schema;
    let mut defaulted = applied.clone();
    tug_api::defaults::apply(writer.rt, &mut defaulted);
    fill_defaulted_keys(&mut applied, &defaulted, node);
    let applied_set = owned_set(writer.rt, writer.schema, writer.subresource, &applied, false);
    let mut list = live.map(entries).unwrap_or_default();
    let mut merged = live.cloned().unwrap_or_else(|| json!({}));
    if writer.subresource == "status" {
        // Through status only the status merges.
        let status = applied.get("status").cloned().unwrap_or(Value::Null);
        applied = json!({"status": status});
    }
    merge(&mut merged, &applied, node);

    // Conflicts: applied values that differ from live ones another manager owns.
    let empty = json!({});
    let live_value = live.unwrap_or(&empty);
    let mut conflicts: Vec<(usize, Path)> = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        if entry.same_owner(writer.manager, "Apply", "", writer.subresource) {
            continue;
        }
        for p in applied_set.0.iter().filter(|p| entry.fields.contains(p) && !has_members_below(&applied_set, p)) {
            if fieldset::get(live_value, p) != fieldset::get(&merged, p) {
                conflicts.push((i, p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&list, &conflicts));
    }
    // Forced: the conflicting fields change hands; fields applied with the same value stay shared.
    for (i, p) in &conflicts {
        list[*i].fields.0.remove(p);
    }

    // What this manager applied before and no longer does goes, unless someone else owns it.
    let mine = list.iter().position(|e| e.same_owner(writer.manager, "Apply", "", writer.subresource));
    if let Some(i) = mine {
        let dropped: Vec<Path> = list[i].fields.0.iter().filter(|p| !applied_set.covers(p)).cloned().collect();
        for p in dropped.iter().rev() {
            let owned_elsewhere = list.iter().enumerate().any(|(j, e)| j != i && e.fields.covers(p));
            if !owned_elsewhere && !applied_set.covers(p) {
                fieldset::remove(&mut merged, p);
            }
        }
    }
    let entry = Entry {
        manager: writer.manager.to_string(),
        operation: "Apply".into(),
        api_version: writer.rt.api_version(),
        time: Some(json!(writer.now)),
        subresource: writer.subresource.to_string(),
        fields: applied_set,
    };
    match mine {
        Some(i) => list[i] = entry,
        None => list.push(entry),
    }
    set_entries(&mut merged, &list);
    Ok(merged)
}

/// Fills the key fields the applied elements of keyed lists leave to their defaults (a port's
/// `protocol: TCP`), from the same configuration defaulted, so that they match the live
/// elements, which were defaulted when written.
fn fill_defaulted_keys(applied: &mut Value, defaulted: &Value, node: Option<Node<'_>>) {
    match (applied, defaulted) {
        (Value::Object(fields), Value::Object(defaults)) => {
            for (name, value) in fields.iter_mut() {
                if let Some(default) = defaults.get(name) {
                    fill_defaulted_keys(value, default, node.and_then(|n| n.field(name)));
                }
            }
        }
        (Value::Array(items), Value::Array(defaults)) => {
            let ListType::Map(keys) = node.map_or(ListType::Atomic, Node::list_type) else { return };
            let element = node.and_then(Node::items);
            for (item, default) in items.iter_mut().zip(defaults) {
                if let (Value::Object(fields), Some(default_fields)) = (&mut *item, default.as_object()) {
                    for key in &keys {
                        if let (false, Some(v)) = (fields.contains_key(*key), default_fields.get(*key)) {
                            fields.insert((*key).to_string(), v.clone());
                        }
                    }
                }
                fill_defaulted_keys(item, default, element);
            }
        }
        _ => {}
    }
}

/// Merges the applied configuration into the live object: structures and granular maps
/// field by field, keyed lists element by element, sets as unions, the rest replaced.
fn merge(live: &mut Value, applied: &Value, node: Option<Node<'_>>) {
    match (live, applied) {
        (Value::Object(live), Value::Object(applied)) if !node.is_some_and(Node::is_atomic_map) => {
            for (name, value) in applied {
                let child = node.and_then(|n| n.field(name));
                match live.get_mut(name) {
                    Some(existing) if !value.is_null() => merge(existing, value, child),
                    _ if value.is_null() => {
                        live.remove(name);
                    }
                    _ => {
                        live.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(live), Value::Array(applied)) => match node.map_or(ListType::Atomic, Node::list_type) {
            ListType::Set => {
                for item in applied {
                    if !live.contains(item) {
                        live.push(item.clone());
                    }
                }
            }
            ListType::Map(keys) => {
                let items = node.and_then(Node::items);
                for item in applied {
                    let key = fieldset::key_element(item, &keys);
                    let found = key.as_ref().and_then(|k| live.iter_mut().find(|l| fieldset::key_element(l, &keys).as_ref() == Some(k)));
                    match found {
                        Some(existing) => merge(existing, item, items),
                        None => live.push(item.clone()),
                    }
                }
            }
            ListType::Atomic => *live = applied.clone(),
        },
        (live, applied) => *live = applied.clone(),
    }
}

/// The 409 kube-apiserver answers an apply with conflicts.
fn conflict_error(list: &[Entry], conflicts: &[(usize, Path)]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(i, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", list[*i].describe()), "field": fieldset::display(p)}))
        .collect();
    let message = match conflicts {
        [(i, p)] => format!("Apply failed with 1 conflict: conflict with {}: {}", list[*i].describe(), fieldset::display(p)),
        _ => {
            let mut managers: Vec<String> = conflicts.iter().map(|(i, _)| list[*i].describe()).collect();
            managers.sort();
            managers.dedup();
            let mut lines = Vec::new();
            for manager in &managers {
                lines.push(format!("conflicts with {manager}"));
                lines.extend(conflicts.iter().filter(|(i, _)| &list[*i].describe() == manager).map(|(_, p)| format!("- {}", fieldset::display(p))));
            }
            format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
        }
    };
    ApiError { code: 409, reason: "Conflict", message, details: Some(json!({"causes": causes})) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployments() -> &'static ResourceType {
        tug_api::registry::find("apps", "v1", "deployments").expect("deployments are served")
    }

    fn writer<'a>(manager: &'a str) -> Writer<'a> {
        Writer { rt: deployments(), schema: tug_api::schema::builtin_kind("apps", "v1", "Deployment"), subresource: "", manager, now: "2026-11-27T00:00:00Z" }
    }

    fn config(replicas: Option<i64>, image: &str) -> Value {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
        if let Some(r) = replicas {
            d["spec"]["replicas"] = json!(r);
        }
        d
    }

    fn managers(object: &Value) -> Vec<(String, String)> {
        entries(object).into_iter().map(|e| (e.manager, e.operation)).collect()
    }

    #[test]
    fn two_managers_own_their_fields_and_conflict_on_a_shared_one() {
        let a = apply(&writer("a"), None, config(Some(2), "nginx"), false).unwrap();
        let b_config = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"team": "b"}}});
        let both = apply(&writer("b"), Some(&a), b_config, false).unwrap();
        assert_eq!(managers(&both), [("a".into(), "Apply".into()), ("b".into(), "Apply".into())]);
        assert_eq!(both["metadata"]["labels"]["team"], "b");

        let e = apply(&writer("b"), Some(&both), config(Some(3), "nginx"), false).unwrap_err();
        assert_eq!((e.code, e.reason), (409, "Conflict"));
        assert_eq!(e.message, "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas");
        assert_eq!(e.details.unwrap()["causes"][0], json!({"reason": "FieldManagerConflict", "message": "conflict with \"a\"", "field": ".spec.replicas"}));

        // The same value is no conflict; force takes the field over.
        assert!(apply(&writer("b"), Some(&both), config(Some(2), "nginx"), false).is_ok());
        let forced = apply(&writer("b"), Some(&both), config(Some(3), "nginx"), true).unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let a_fields = entries(&forced).into_iter().find(|e| e.manager == "a").unwrap().fields;
        assert!(!a_fields.contains(&vec![field("spec"), field("replicas")]));
    }

    #[test]
    fn a_field_dropped_from_the_config_goes_only_when_no_one_else_owns_it() {
        let a = apply(&writer("a"), None, config(Some(2), "nginx"), false).unwrap();
        let dropped = apply(&writer("a"), Some(&a), config(None, "nginx"), false).unwrap();
        assert!(dropped["spec"].get("replicas").is_none());

        let shared = apply(&writer("b"), Some(&a), config(Some(2), "nginx"), false).unwrap();
        let kept = apply(&writer("a"), Some(&shared), config(None, "nginx"), false).unwrap();
        assert_eq!(kept["spec"]["replicas"], 2, "b still owns it");
    }

    #[test]
    fn updates_take_changed_fields_from_appliers() {
        let a = apply(&writer("a"), None, config(Some(2), "nginx"), false).unwrap();
        let mut scaled = a.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(&writer("kubectl-scale"), Some(&a), &mut scaled);
        let list = entries(&scaled);
        let scale = list.iter().find(|e| e.manager == "kubectl-scale").unwrap();
        assert_eq!((scale.operation.as_str(), scale.api_version.as_str()), ("Update", "apps/v1"));
        assert_eq!(scale.fields.to_fields_v1(), json!({"f:spec": {"f:replicas": {}}}));
        let e = apply(&writer("a"), Some(&scaled), config(Some(2), "nginx"), false).unwrap_err();
        assert_eq!(e.message, "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using apps/v1 at 2026-11-27T00:00:00Z: .spec.replicas");
    }

    #[test]
    fn defaulted_key_fields_match_the_live_element() {
        let mut with_port = config(Some(1), "nginx");
        with_port["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80}]);
        let mut live = apply(&writer("a"), None, with_port.clone(), false).unwrap();
        tug_api::defaults::apply(deployments(), &mut live);
        let again = apply(&writer("a"), Some(&live), with_port, false).unwrap();
        assert_eq!(again["spec"]["template"]["spec"]["containers"][0]["ports"], json!([{"containerPort": 80, "protocol": "TCP"}]));
        let fields = entries(&again)[0].fields.to_fields_v1();
        assert!(fields["f:spec"]["f:template"]["f:spec"]["f:containers"][r#"k:{"name":"c"}"#]["f:ports"].get(r#"k:{"containerPort":80,"protocol":"TCP"}"#).is_some(), "{fields}");
    }

    #[test]
    fn status_applies_own_only_the_status() {
        let live = apply(&writer("a"), None, config(Some(2), "nginx"), false).unwrap();
        let status = Writer { subresource: "status", ..writer("ctl") };
        let mut applied = config(Some(9), "x");
        applied["status"] = json!({"replicas": 1});
        let out = apply(&status, Some(&live), applied, false).unwrap();
        assert_eq!(out["spec"]["replicas"], 2);
        assert_eq!(out["status"]["replicas"], 1);
        let ctl = entries(&out).into_iter().find(|e| e.manager == "ctl").unwrap();
        assert_eq!(ctl.subresource, "status");
        assert_eq!(ctl.fields.to_fields_v1(), json!({"f:status": {"f:replicas": {}}}));
    }
}
