//! Create, get, list, update and delete of stored objects, for every type in
//! the registry. Each write runs the same steps: check the object's identity
//! against the URL, decode it as its real type, fill in server-owned
//! metadata and defaults, validate, then write with compare-and-swap.

use std::net::Ipv4Addr;

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{json, Value};
use tug_api::{defaults, validation, FieldError, ResourceType, Subresource};
use tug_store::{KeyRange, KeyValue, RangeRequest};

use super::Ctx;
use crate::admission::{self, Operation};
use crate::crds;
use crate::fieldmanager;
use crate::ipam;
use crate::nodeports;
use crate::podcidr;
use crate::object::{self, from_kv, has_finalizers, meta_mut, meta_str, set_meta, to_bytes};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The object through its main endpoint: `status` is kept as stored when the type has a status subresource.
    Main,
    /// The `status` subresource: everything but `status` is kept as stored.
    Status,
    /// A server-side subresource write (`binding`) that sets spec and status together.
    Whole,
}

/// A written object and the HTTP code to answer with.
pub struct Written {
    pub object: Value,
    pub code: StatusCode,
}

/// GET of one object.
pub async fn get(ctx: &Ctx<'_>) -> ApiResult<Value> {
    let kv = current(ctx).await?;
    from_kv(ctx.target.rt, &kv)
}

/// The object's current version in the store; 404 when absent.
pub async fn current(ctx: &Ctx<'_>) -> ApiResult<KeyValue> {
    ctx.state
        .store
        .get(&ctx.target.key())
        .await?
        .ok_or_else(|| ApiError::not_found(ctx.target.rt, ctx.target.name()))
}

/// Where a paged list goes on: the revision it is pinned to and the last key it returned.
#[derive(serde::Serialize, serde::Deserialize)]
struct Continue {
    rv: i64,
    start: String,
}

/// The selected objects of a collection, with the list's metadata.
pub async fn list(ctx: &Ctx<'_>) -> ApiResult<(Vec<Value>, Value)> {
    let q = ctx.query;
    let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())?;
    let limit = q.number("limit")?.filter(|l| *l > 0).map(|l| l as usize);
    let prefix = ctx.target.rt.prefix(ctx.target.namespace.as_deref());
    let mut range = KeyRange::prefix(prefix.clone());
    let mut revision = None;
    if let Some(token) = q.get("continue") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|b| serde_json::from_slice::<Continue>(&b).ok());
        let token = decoded
            .filter(|c| c.start.starts_with(&prefix))
            .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
        range = range.after(&token.start);
        revision = Some(token.rv);
    } else if let (Some(rv), Some("Exact")) =
        (q.get("resourceVersion"), q.get("resourceVersionMatch"))
    {
        revision = Some(
            rv.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        );
    }
    let mut items = Vec::new();
    let mut next = None;
    loop {
        let mut request = RangeRequest::new(range.clone());
        if let Some(limit) = limit {
            request = request.limit(limit - items.len());
        }
        if let Some(rev) = revision {
            request = request.at_revision(rev);
        }
        let response = match ctx.state.store.range(request).await {
            Err(tug_store::Error::Compacted { .. }) if q.get("continue").is_some() => {
                return Err(ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."));
            }
            other => other?,
        };
        revision = Some(response.revision);
        let last = response.kvs.last().map(|kv| kv.key.clone());
        for kv in &response.kvs {
            let object = from_kv(ctx.target.rt, kv)?;
            if labels.matches(&object) && fields.matches(&object) {
                items.push(object);
            }
        }
        match (response.more, last) {
            (true, Some(last)) if limit.is_some_and(|l| items.len() >= l) => {
                next = Some(last);
                break;
            }
            (true, Some(last)) => range = range.after(&last),
            _ => break,
        }
    }
    let rv = revision.unwrap_or_default();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(start) = next {
        let token = serde_json::to_vec(&Continue { rv, start })
            .map_err(|e| ApiError::internal(e.to_string()))?;
        meta["continue"] = json!(base64::engine::general_purpose::STANDARD.encode(token));
    }
    Ok((items, meta))
}

/// Checks `apiVersion`, `kind` and the namespace of a body against the URL, filling them in when absent.
fn check_identity(ctx: &Ctx<'_>, object: &mut Value) -> ApiResult<()> {
    let rt = ctx.target.rt;
    let api_version = rt.api_version();
    let fields = object
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the request body must be an object"))?;
    match fields.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != api_version => return Err(ApiError::bad_request(format!("the API version in the data ({v}) does not match the expected API version ({api_version})"))),
        _ => {
            fields.insert("apiVersion".into(), json!(api_version));
        }
    }
    match fields.get("kind").and_then(Value::as_str) {
        Some(k) if k != rt.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                rt.kind
            )))
        }
        _ => {
            fields.insert("kind".into(), json!(rt.kind));
        }
    }
    let meta = meta_mut(object);
    if !rt.namespaced {
        meta.remove("namespace");
        return Ok(());
    }
    let body_ns = meta
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let namespace = match (&ctx.target.namespace, body_ns) {
        (Some(url), Some(body)) if *url != body => return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        (Some(url), _) => url.clone(),
        (None, Some(body)) => body,
        (None, None) => {
            return Err(ApiError::bad_request(
                "a namespaced object needs a namespace in its URL or its metadata",
            ))
        }
    };
    meta.insert("namespace".into(), json!(namespace));
    Ok(())
}

/// Decodes an object as its real type, applies `fieldValidation`, defaults and validates it.
fn decode_default_validate(
    ctx: &Ctx<'_>,
    object: &Value,
    old: Option<&Value>,
    warnings: &mut Vec<String>,
) -> ApiResult<Value> {
    let rt = ctx.target.rt;
    let custom = if rt.custom { Some(crds::version_of(&ctx.state.crds, rt)?) } else { None };
    let mut decoded = (rt.decode)(object).map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: {e}",
            kind = rt.kind,
            v = rt.version
        ))
    })?;
    if let Some(version) = &custom {
        let pruned = crds::prune_and_default(version, &mut decoded.object);
        decoded.unknown_fields.extend(pruned);
    }
    if !decoded.unknown_fields.is_empty() {
        let names: Vec<String> = decoded
            .unknown_fields
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        match ctx.query.get("fieldValidation") {
            Some("Strict") => {
                return Err(ApiError::bad_request(format!(
                    "strict decoding error: {}",
                    names.join(", ")
                )))
            }
            Some("Ignore") => {}
            _ => warnings.extend(names),
        }
    }
    let mut object = decoded.object;
    defaults::apply(rt, &mut object);
    let mut errors = validation::validate(rt, &object);
    if let Some(version) = &custom {
        errors.extend(crds::validate(version, &object));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            rt,
            meta_str(&object, "name").unwrap_or_default(),
            &errors,
        ));
    }
    if crds::is_definition(rt) {
        let key = rt.key(None, meta_str(&object, "name").unwrap_or_default());
        crds::definitions::admit(&ctx.state.crds, rt, &key, &mut object, old, warnings)?;
    }
    Ok(object)
}

/// Runs the admission chain on a write: mutation (then validation again, since plugins may
/// add fields), then the plugins' validation. For a delete `object` is the stored object.
async fn admit(
    ctx: &Ctx<'_>,
    operation: Operation,
    old: Option<&Value>,
    object: &mut Value,
    warnings: &mut Vec<String>,
) -> ApiResult<()> {
    let rt = ctx.target.rt;
    let name = meta_str(object, "name")
        .unwrap_or(ctx.target.name())
        .to_string();
    let namespace = meta_str(object, "namespace").map(str::to_string);
    let request = admission::Request {
        operation,
        rt,
        namespace: namespace.as_deref(),
        name: &name,
        old,
        user: ctx.user,
        dry_run: ctx.query.dry_run(),
        store: ctx.state.store.as_ref(),
    };
    let mut review = admission::Review::default();
    let chain = &ctx.state.admission;
    if operation != Operation::Delete {
        chain.mutate(&request, object, &mut review).await?;
        let mut errors = validation::validate(rt, object);
        if let Some(old) = old.filter(|_| operation == Operation::Update) {
            errors.extend(validation::validate_update(rt, old, object));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(rt, &name, &errors));
        }
    }
    chain.validate(&request, object, &mut review).await?;
    warnings.extend(review.warnings);
    if let Ok(mut audit) = ctx.audit.lock() {
        audit.0.extend(review.audit_annotations);
    }
    Ok(())
}

/// POST of a new object.
pub async fn create(
    ctx: &Ctx<'_>,
    mut object: Value,
    warnings: &mut Vec<String>,
) -> ApiResult<Written> {
    let rt = ctx.target.rt;
    if rt.custom && ctx.state.crds.terminating(&crds::definition_key(rt)) {
        return Err(ApiError::method_not_allowed(format!(
            "create not allowed while custom resource definition {}.{} is terminating",
            rt.plural, rt.group
        )));
    }
    check_identity(ctx, &mut object)?;
    let meta = meta_mut(&mut object);
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let name = match (name, meta.get("generateName").and_then(Value::as_str)) {
        (Some(name), _) => name,
        (None, Some(prefix)) if !prefix.is_empty() => object::generate_name(prefix),
        _ => {
            return Err(ApiError::invalid(
                rt,
                "",
                &[required(
                    "metadata.name",
                    "name or generateName is required",
                )],
            ))
        }
    };
    meta.insert("name".into(), json!(name));
    meta.insert("uid".into(), json!(object::new_uid()));
    meta.insert("creationTimestamp".into(), json!(object::now()));
    for field in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(field);
    }
    if object.get("spec").is_some() || rt.custom {
        set_meta(&mut object, "generation", json!(1));
    }
    if (rt.group, rt.kind) == ("", "Namespace") {
        // The namespace controller empties a deleted namespace, then lifts this finalizer.
        object["spec"] = json!({"finalizers": ["kubernetes"]});
    }
    if rt.has(Subresource::Status) {
        if let Some(fields) = object.as_object_mut() {
            fields.remove("status");
        }
        if rt.kind == "Pod" {
            object["status"] = json!({"phase": "Pending", "qosClass": tug_api::qos::class(&object)});
        }
    }
    let mut object = decode_default_validate(ctx, &object, None, warnings)?;
    if !fieldmanager::is_apply(ctx.headers) {
        record_update(ctx, None, &mut object);
    }
    crate::authz::escalation::check(ctx.state, ctx.user, rt, &object, None, warnings).await?;
    admit(ctx, Operation::Create, None, &mut object, warnings).await?;
    if rt.kind == "Secret" {
        crate::authn::serviceaccount::fill_legacy_secret(
            &ctx.state.tokens,
            ctx.state.store.as_ref(),
            &mut object,
        )
        .await?;
    }
    let namespace = meta_str(&object, "namespace").map(str::to_string);
    let key = rt.key(namespace.as_deref(), &name);
    if ctx.query.dry_run() {
        return Ok(Written {
            object,
            code: StatusCode::CREATED,
        });
    }
    let node_ports = nodeports::assign(ctx.state.store.as_ref(), rt, &mut object, None).await?;
    let allocated = match allocate_cluster_ip(ctx, &mut object, None).await {
        Ok(ip) => ip,
        Err(e) => {
            nodeports::release(ctx.state.store.as_ref(), &node_ports.claimed).await?;
            return Err(e);
        }
    };
    let pod_cidr = allocate_pod_cidr(ctx, &mut object, &name).await?;
    match ctx.state.store.create(&key, to_bytes(rt, &object), None).await {
        Ok(kv) => {
            crate::authz::escalation::written(ctx.state, &key, kv.mod_revision).await;
            ctx.state.crds.written(&key, kv.mod_revision).await;
            set_meta(
                &mut object,
                "resourceVersion",
                json!(kv.mod_revision.to_string()),
            );
            Ok(Written {
                object,
                code: StatusCode::CREATED,
            })
        }
        Err(e) => {
            if let Some(ip) = allocated {
                ipam::release(ctx.state.store.as_ref(), &ip.to_string()).await?;
            }
            if let Some(cidr) = pod_cidr {
                podcidr::release(ctx.state.store.as_ref(), &cidr).await?;
            }
            nodeports::release(ctx.state.store.as_ref(), &node_ports.claimed).await?;
            Err(ApiError::from_store(rt, &name, e))
        }
    }
}

/// Gives a new Node without `spec.podCIDR` a range of its own; returns the range allocated now.
async fn allocate_pod_cidr(ctx: &Ctx<'_>, object: &mut Value, name: &str) -> ApiResult<Option<String>> {
    let rt = ctx.target.rt;
    if (rt.group, rt.kind) != ("", "Node")
        || object.pointer("/spec/podCIDR").and_then(Value::as_str).is_some_and(|c| !c.is_empty())
    {
        return Ok(None);
    }
    let cidr = podcidr::allocate(ctx.state.store.as_ref(), name).await?;
    if !object.get("spec").is_some_and(Value::is_object) {
        object["spec"] = json!({});
    }
    object["spec"]["podCIDR"] = json!(cidr);
    object["spec"]["podCIDRs"] = json!([cidr]);
    Ok(Some(cidr))
}

/// Records a write that is not an apply in the object's managedFields.
fn record_update(ctx: &Ctx<'_>, old: Option<&Value>, new: &mut Value) {
    let manager = fieldmanager::update_manager(ctx.query, ctx.headers);
    let now = object::now();
    let custom = super::custom_version(ctx);
    let writer = fieldmanager::Writer {
        rt: ctx.target.rt,
        schema: super::schema_root(ctx.target.rt, custom.as_deref()),
        subresource: ctx.target.subresource.as_deref().unwrap_or(""),
        manager: &manager,
        now: &now,
    };
    fieldmanager::record_update(&writer, old, new);
}

fn required(field: &str, detail: &str) -> FieldError {
    FieldError {
        field: field.into(),
        kind: validation::ErrorType::Required,
        value: String::new(),
        detail: detail.into(),
    }
}

/// Gives a Service its cluster IP: the old one on update, the requested or a free one on create.
/// Returns the address allocated now, if any.
async fn allocate_cluster_ip(
    ctx: &Ctx<'_>,
    object: &mut Value,
    old: Option<&Value>,
) -> ApiResult<Option<Ipv4Addr>> {
    let rt = ctx.target.rt;
    if (rt.group, rt.kind) != ("", "Service")
        || object.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName")
    {
        return Ok(None);
    }
    let requested = object
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty())
        .map(str::to_string);
    let old_ip = old
        .and_then(|o| o.pointer("/spec/clusterIP"))
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty())
        .map(str::to_string);
    if let Some(old_ip) = old_ip {
        if requested.as_ref().is_some_and(|r| *r != old_ip) {
            let err = FieldError {
                field: "spec.clusterIPs[0]".into(),
                kind: validation::ErrorType::Invalid,
                value: json!(requested).to_string(),
                detail: "may not change once set".into(),
            };
            return Err(ApiError::invalid(rt, ctx.target.name(), &[err]));
        }
        object["spec"]["clusterIP"] = json!(old_ip);
        object["spec"]["clusterIPs"] = json!([old_ip]);
        return Ok(None);
    }
    if requested.as_deref() == Some("None") {
        object["spec"]["clusterIPs"] = json!(["None"]);
        return Ok(None);
    }
    let name = meta_str(object, "name").unwrap_or_default().to_string();
    let invalid = |value: &str, detail: &str| {
        ApiError::invalid(
            rt,
            &name,
            &[FieldError {
                field: "spec.clusterIPs".into(),
                kind: validation::ErrorType::Invalid,
                value: json!([value]).to_string(),
                detail: detail.into(),
            }],
        )
    };
    let wanted = match &requested {
        Some(ip) => {
            let parsed: Ipv4Addr = ip
                .parse()
                .map_err(|_| invalid(ip, "must be a valid IP address"))?;
            if !ipam::in_range(parsed) {
                return Err(invalid(ip, "failed to allocate IP: the provided IP is not in the valid range. The range of valid IPs is 10.43.0.0/16"));
            }
            Some(parsed)
        }
        None => None,
    };
    let owner = format!(
        "{}/{name}",
        meta_str(object, "namespace").unwrap_or_default()
    );
    let ip = ipam::allocate(ctx.state.store.as_ref(), wanted, &owner)
        .await?
        .ok_or_else(|| {
            invalid(
                requested.as_deref().unwrap_or_default(),
                "failed to allocate IP: provided IP is already allocated",
            )
        })?;
    object["spec"]["clusterIP"] = json!(ip.to_string());
    object["spec"]["clusterIPs"] = json!([ip.to_string()]);
    Ok(Some(ip))
}

/// Writes `new` over the stored `current` (PUT, PATCH, and the status subresource).
pub async fn replace(
    ctx: &Ctx<'_>,
    mut new: Value,
    current: &KeyValue,
    part: Part,
    warnings: &mut Vec<String>,
) -> ApiResult<Written> {
    let rt = ctx.target.rt;
    let name = ctx.target.name();
    let old = from_kv(rt, current)?;
    check_identity(ctx, &mut new)?;
    match meta_str(&new, "name") {
        Some(n) if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
        _ => set_meta(&mut new, "name", json!(name)),
    }
    if let Some(rv) = meta_str(&new, "resourceVersion") {
        if rv != current.mod_revision.to_string() {
            return Err(ApiError::stale(rt, name));
        }
    }
    if part == Part::Status {
        let status = new.get("status").cloned();
        // The writer's managedFields (an apply's, or those sent) go with the status.
        let managed = new.pointer("/metadata/managedFields").cloned();
        new = old.clone();
        if let Some(managed) = managed {
            set_meta(&mut new, "managedFields", managed);
        }
        match status {
            Some(status) => new["status"] = status,
            None => {
                if let Some(fields) = new.as_object_mut() {
                    fields.remove("status");
                }
            }
        }
    } else if part == Part::Main && rt.has(Subresource::Status) {
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(fields) = new.as_object_mut() {
                    fields.remove("status");
                }
            }
        }
    }
    if (rt.group, rt.kind) == ("", "Namespace") && part == Part::Main {
        // spec.finalizers changes only through the finalize subresource.
        let finalizers = old.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
        new["spec"] = json!({"finalizers": finalizers});
    }
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old.pointer(&format!("/metadata/{field}")) {
            Some(v) => set_meta(&mut new, field, v.clone()),
            None => {
                meta_mut(&mut new).remove(field);
            }
        }
    }
    if (rt.group, rt.kind) == ("", "Node")
        && new.pointer("/spec/podCIDR").is_none()
        && new.get("spec").is_none_or(Value::is_object)
    {
        if let Some(cidr) = old.pointer("/spec/podCIDR").cloned() {
            new["spec"]["podCIDR"] = cidr;
            new["spec"]["podCIDRs"] = old.pointer("/spec/podCIDRs").cloned().unwrap_or(Value::Null);
        }
    }
    let mut new = decode_default_validate(ctx, &new, Some(&old), warnings)?;
    if !fieldmanager::is_apply(ctx.headers) {
        record_update(ctx, Some(&old), &mut new);
    }
    if part == Part::Main {
        admit(ctx, Operation::Update, Some(&old), &mut new, warnings).await?;
    }
    crate::authz::escalation::check(ctx.state, ctx.user, rt, &new, Some(&old), warnings).await?;
    allocate_cluster_ip(ctx, &mut new, Some(&old)).await?;
    let node_ports = if ctx.query.dry_run() {
        nodeports::Assigned::default()
    } else {
        nodeports::assign(ctx.state.store.as_ref(), rt, &mut new, Some(&old)).await?
    };
    if generation_changes(rt, &old, &new) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        set_meta(&mut new, "generation", json!(generation + 1));
    }
    set_meta(
        &mut new,
        "resourceVersion",
        json!(current.mod_revision.to_string()),
    );
    if old.pointer("/metadata/deletionTimestamp").is_some() && !has_finalizers(&new) {
        if !ctx.query.dry_run() {
            delete_stored(ctx, rt, &ctx.target.key(), current.mod_revision, &old).await?;
        }
        return Ok(Written {
            object: new,
            code: StatusCode::OK,
        });
    }
    if new == old || ctx.query.dry_run() {
        return Ok(Written {
            object: new,
            code: StatusCode::OK,
        });
    }
    let updated = ctx
        .state
        .store
        .update(
            &ctx.target.key(),
            to_bytes(rt, &new),
            current.mod_revision,
            None,
        )
        .await;
    let kv = match updated {
        Ok(kv) => {
            nodeports::release(ctx.state.store.as_ref(), &node_ports.dropped).await?;
            kv
        }
        Err(e) => {
            nodeports::release(ctx.state.store.as_ref(), &node_ports.claimed).await?;
            return Err(ApiError::from_store(rt, name, e));
        }
    };
    crate::authz::escalation::written(ctx.state, &kv.key, kv.mod_revision).await;
    ctx.state.crds.written(&kv.key, kv.mod_revision).await;
    set_meta(
        &mut new,
        "resourceVersion",
        json!(kv.mod_revision.to_string()),
    );
    Ok(Written {
        object: new,
        code: StatusCode::OK,
    })
}

/// Whether a write changes what `metadata.generation` counts: the spec, or for a custom
/// resource anything but its metadata and status.
fn generation_changes(rt: &ResourceType, old: &Value, new: &Value) -> bool {
    if !rt.custom {
        return new.get("spec") != old.get("spec");
    }
    let content = |o: &Value| -> Vec<(String, Value)> {
        o.as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    content(old) != content(new)
}

/// Removes a stored object and what the server allocated for it.
async fn delete_stored(
    ctx: &Ctx<'_>,
    rt: &ResourceType,
    key: &str,
    mod_revision: i64,
    object: &Value,
) -> ApiResult<()> {
    let name = meta_str(object, "name").unwrap_or_default();
    ctx.state
        .store
        .delete(key, Some(mod_revision))
        .await
        .map_err(|e| ApiError::from_store(rt, name, e))?;
    if (rt.group, rt.kind) == ("", "Service") {
        if let Some(ip) = object
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .filter(|ip| ip.parse::<Ipv4Addr>().is_ok())
        {
            ipam::release(ctx.state.store.as_ref(), ip).await?;
        }
        let ports: Vec<u16> = nodeports::node_ports(Some(object)).into_iter().collect();
        nodeports::release(ctx.state.store.as_ref(), &ports).await?;
    }
    if (rt.group, rt.kind) == ("", "Node") {
        if let Some(cidr) = object.pointer("/spec/podCIDR").and_then(Value::as_str) {
            podcidr::release(ctx.state.store.as_ref(), cidr).await?;
        }
    }
    if crds::is_definition(rt) {
        crds::purge_instances(ctx.state.store.as_ref(), object).await?;
        let revision = ctx.state.store.current_revision().await?;
        ctx.state.crds.written(key, revision).await;
    }
    if rt.custom {
        crds::instance_removed(ctx.state.store.as_ref(), &ctx.state.crds, rt).await?;
    }
    Ok(())
}

/// The DeleteOptions of a request: from its body, then its query.
#[derive(Debug, Default)]
pub struct DeleteOptions {
    pub grace_period: Option<i64>,
    pub precondition_rv: Option<String>,
    pub precondition_uid: Option<String>,
    /// Orphan, Background or Foreground (the garbage collector acts on the first and last).
    pub propagation: Option<String>,
}

impl DeleteOptions {
    pub fn read(ctx: &Ctx<'_>, body: Option<&Value>) -> ApiResult<DeleteOptions> {
        let body = body.cloned().unwrap_or(Value::Null);
        let grace_period = match body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            Some(g) => Some(g),
            None => ctx.query.number("gracePeriodSeconds")?,
        };
        let policy = body
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .or(ctx.query.get("propagationPolicy"));
        if let Some(p) = policy {
            if !["Orphan", "Background", "Foreground"].contains(&p) {
                return Err(ApiError::bad_request(format!(
                    "propagationPolicy {p:?} is not one of Orphan, Background, Foreground"
                )));
            }
        }
        let pre = |f: &str| {
            body.pointer(&format!("/preconditions/{f}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Ok(DeleteOptions {
            grace_period,
            precondition_rv: pre("resourceVersion"),
            precondition_uid: pre("uid"),
            propagation: policy.map(str::to_string),
        })
    }
}

/// DELETE of one object: gone at once, or marked with a deletionTimestamp while finalizers
/// (or a bound pod's grace period) are pending.
pub async fn delete(
    ctx: &Ctx<'_>,
    options: &DeleteOptions,
    warnings: &mut Vec<String>,
) -> ApiResult<Written> {
    let rt = ctx.target.rt;
    let name = ctx.target.name();
    for _ in 0..5 {
        let kv = current(ctx).await?;
        let mut object = from_kv(rt, &kv)?;
        admit(
            ctx,
            Operation::Delete,
            Some(&object),
            &mut object.clone(),
            warnings,
        )
        .await?;
        if options
            .precondition_rv
            .as_ref()
            .is_some_and(|rv| *rv != kv.mod_revision.to_string())
        {
            return Err(ApiError::conflict(
                rt,
                name,
                "Precondition failed: resourceVersion does not match",
            ));
        }
        if options
            .precondition_uid
            .as_deref()
            .is_some_and(|uid| Some(uid) != meta_str(&object, "uid"))
        {
            return Err(ApiError::conflict(
                rt,
                name,
                "Precondition failed: UID does not match",
            ));
        }
        // A definition's objects are deleted first; while some wait for their finalizers the
        // definition waits too (terminating), as in Kubernetes.
        if crds::is_definition(rt) && object.pointer("/metadata/deletionTimestamp").is_none() && !ctx.query.dry_run() {
            let remaining = crds::delete_instances(ctx.state.store.as_ref(), &object).await?;
            if remaining > 0 {
                let meta = meta_mut(&mut object);
                let finalizers = meta.entry("finalizers").or_insert_with(|| json!([]));
                if let Some(list) = finalizers.as_array_mut() {
                    if !list.contains(&json!(crds::CLEANUP_FINALIZER)) {
                        list.push(json!(crds::CLEANUP_FINALIZER));
                    }
                }
            }
        }
        let grace = options
            .grace_period
            .or_else(|| {
                object
                    .pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(0);
        let bound_pod = rt.kind == "Pod"
            && rt.group.is_empty()
            && object
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
        let graceful = bound_pod && grace > 0;
        // Orphan and Foreground leave the object to the garbage collector behind a finalizer.
        let policy_finalizer = match options.propagation.as_deref() {
            Some("Orphan") => Some("orphan"),
            Some("Foreground") => Some("foregroundDeletion"),
            _ => None,
        };
        if let Some(f) = policy_finalizer.filter(|_| object.pointer("/metadata/deletionTimestamp").is_none()) {
            let finalizers = meta_mut(&mut object).entry("finalizers").or_insert_with(|| json!([]));
            if let Some(list) = finalizers.as_array_mut().filter(|l| !l.contains(&json!(f))) {
                list.push(json!(f));
            }
        }
        if has_finalizers(&object) || graceful {
            if object.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(Written {
                    object,
                    code: StatusCode::OK,
                });
            }
            let grace = if graceful { grace } else { 0 };
            set_meta(
                &mut object,
                "deletionTimestamp",
                json!(object::now_plus(grace)),
            );
            set_meta(&mut object, "deletionGracePeriodSeconds", json!(grace));
            if (rt.group, rt.kind) == ("", "Namespace") {
                object["status"]["phase"] = json!("Terminating");
            }
            if ctx.query.dry_run() {
                return Ok(Written {
                    object,
                    code: StatusCode::OK,
                });
            }
            match ctx
                .state
                .store
                .update(&ctx.target.key(), to_bytes(rt, &object), kv.mod_revision, None)
                .await
            {
                Ok(updated) => {
                    set_meta(
                        &mut object,
                        "resourceVersion",
                        json!(updated.mod_revision.to_string()),
                    );
                    return Ok(Written {
                        object,
                        code: StatusCode::OK,
                    });
                }
                Err(tug_store::Error::Conflict { .. }) => continue,
                Err(e) => return Err(ApiError::from_store(rt, name, e)),
            }
        }
        if ctx.query.dry_run() {
            return Ok(Written {
                object,
                code: StatusCode::OK,
            });
        }
        match delete_stored(ctx, rt, &ctx.target.key(), kv.mod_revision, &object).await {
            Ok(()) => {
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": meta_str(&object, "uid")}});
                return Ok(Written {
                    object: status,
                    code: StatusCode::OK,
                });
            }
            Err(e) if e.code == 409 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::stale(rt, name))
}

/// DELETE of a collection: deletes each selected object.
pub async fn delete_collection(
    ctx: &Ctx<'_>,
    options: &DeleteOptions,
    warnings: &mut Vec<String>,
) -> ApiResult<Value> {
    let (items, meta) = list(ctx).await?;
    let mut deleted = Vec::new();
    for item in items {
        let mut target = ctx.target.clone();
        target.name = meta_str(&item, "name").map(str::to_string);
        target.namespace = meta_str(&item, "namespace").map(str::to_string);
        let one = Ctx {
            target: &target,
            ..*ctx
        };
        match delete(&one, options, warnings).await {
            Ok(_) => deleted.push(item),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(
        json!({"kind": ctx.target.rt.list_kind, "apiVersion": ctx.target.rt.api_version(), "metadata": meta, "items": deleted}),
    )
}
