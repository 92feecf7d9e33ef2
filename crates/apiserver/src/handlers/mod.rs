//! The API endpoints under `/api` and `/apis`: discovery documents and the
//! verbs on resources, dispatched by path and method.

mod authn_reviews;
mod crud;
mod custom_metrics;
mod node_proxy;
mod patch;
mod resource_metrics;
mod reviews;
mod subresources;
mod token_request;
mod watch;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tug_api::{ResourceType, Subresource};

use crate::admission::AuditAnnotations;
use crate::body;
use crate::discovery;
use crate::fieldmanager;
use crate::metrics::RequestLabels;
use crate::authn::User;
use crate::request::{self, Query, Route, Target};
use crate::respond;
use crate::server::AppState;
use crate::status::{ApiError, ApiResult};
use crate::table::{self, Include};
use crud::{DeleteOptions, Part};

/// What one resource request works with.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub target: &'a Target,
    pub query: &'a Query,
    pub headers: &'a HeaderMap,
    /// Who is asking (the authentication layer put it on the request).
    pub user: &'a User,
    /// Annotations admission adds for the request's audit event.
    pub audit: &'a std::sync::Mutex<AuditAnnotations>,
}

/// Serves a request under `/api` or `/apis`.
pub async fn api(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let (mut parts, body) = request.into_parts();
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let query = Query::parse(parts.uri.query());
    let anonymous = User::anonymous();
    let user = parts.extensions.get::<User>().unwrap_or(&anonymous);
    let mut labels = RequestLabels {
        verb: "get",
        resource: String::new(),
    };
    let audit = std::sync::Mutex::new(AuditAnnotations::default());
    let result = match request::route(parts.uri.path(), &state.crds) {
        Ok(Route::CoreVersions) => Ok(respond::ok(&discovery::core_versions())),
        Ok(Route::Groups) => Ok(respond::ok(&discovery::groups(&state.crds))),
        Ok(Route::Group(name)) => discovery::group(&state.crds, &name)
            .map(|g| respond::ok(&g))
            .ok_or_else(ApiError::no_route),
        Ok(Route::Resources { group, version }) if (group.as_str(), version.as_str()) == request::CUSTOM_METRICS => custom_metrics::discovery(&state).await,
        Ok(Route::CustomMetric(target)) => {
            labels.resource = target.resource.clone();
            custom_metrics::serve(&state, &parts.method, &query, &target).await
        }
        Ok(Route::Resources { group, version }) => {
            Ok(respond::ok(&discovery::resources(&state.crds, &group, &version)))
        }
        Ok(Route::Object(target)) => {
            labels = RequestLabels {
                verb: request::verb(&parts.method, &target, &query),
                resource: target.rt.plural.to_string(),
            };
            let ctx = Ctx {
                state: &state,
                target: &target,
                query: &query,
                headers: &parts.headers,
                user,
                audit: &audit,
            };
            match target.subresource.as_deref() {
                _ if target.rt.from_nodes => resource_metrics::serve(&ctx, &parts.method).await,
                Some(sub @ ("log" | "exec" | "attach" | "portforward")) if target.rt.kind == "Pod" => {
                    node_proxy::forward(&ctx, &parts.method, sub, parts.uri.query().unwrap_or_default(), upgrade).await
                }
                _ => resource(ctx, &parts.method, body).await,
            }
        }
        Err(e) => Err(e),
    };
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    if let Ok(audit) = audit.into_inner() {
        if !audit.0.is_empty() {
            response.extensions_mut().insert(audit);
        }
    }
    state
        .metrics
        .record(labels, response.status().as_u16(), started.elapsed());
    response
}

pub use node_proxy::connector as node_connector;

/// The served version behind a custom kind (its printer columns, scale paths); `None` for built-in kinds.
fn custom_version(ctx: &Ctx<'_>) -> Option<Arc<tug_api::crd::Version>> {
    ctx.target.rt.custom.then(|| ctx.state.crds.version(ctx.target.rt)).flatten()
}

/// The schema objects of `rt` are walked with: the built-in kind's, or a custom kind's
/// version's (`custom`, from [`custom_version`]).
fn schema_root<'a>(rt: &ResourceType, custom: Option<&'a tug_api::crd::Version>) -> Option<tug_api::schema::Node<'a>> {
    match custom {
        Some(version) => version.schema_root(),
        None => tug_api::schema::builtin_kind(rt.group, rt.version, rt.kind),
    }
}

/// How the client wants objects back: as themselves or as a Table.
fn table_wanted(ctx: &Ctx<'_>) -> Option<Include> {
    let accept = ctx
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    table::wanted(accept).then(|| Include::parse(ctx.query.get("includeObject")))
}

async fn resource(ctx: Ctx<'_>, method: &Method, body: axum::body::Body) -> ApiResult<Response> {
    let target = ctx.target;
    let sub = target.subresource.as_deref();
    let mut warnings = Vec::new();
    if target.rt.create_only {
        return match (method.as_str(), target.name.is_some(), sub) {
            ("POST", false, None) => {
                let object = body::decode_object(ctx.headers, &body::read(body).await?)?;
                match target.rt.plural {
                    "tokenreviews" | "selfsubjectreviews" => {
                        authn_reviews::create(&ctx, object).await
                    }
                    _ => reviews::create(&ctx, object).await,
                }
            }
            (m, _, _) => Err(ApiError::method_not_allowed(format!(
                "{m} is not supported on {}: it is only created",
                target.rt.plural
            ))),
        };
    }
    let response = match (method.as_str(), target.name.is_some(), sub) {
        ("GET", false, None) if ctx.query.flag("watch") => {
            return watch::watch(&ctx, table_wanted(&ctx)).await
        }
        ("GET", false, None) => {
            let (items, meta) = crud::list(&ctx).await?;
            match table_wanted(&ctx) {
                Some(include) => respond::ok(&table::table(target.rt, custom_version(&ctx).as_deref(), &items, meta, include)),
                None => {
                    // Built by moving the items in: json!() would deep-copy every object.
                    let mut list = serde_json::Map::new();
                    list.insert("kind".into(), target.rt.list_kind.into());
                    list.insert("apiVersion".into(), target.rt.api_version().into());
                    list.insert("metadata".into(), meta);
                    list.insert("items".into(), serde_json::Value::Array(items));
                    respond::ok(&serde_json::Value::Object(list))
                }
            }
        }
        ("GET", true, None | Some("status")) => {
            let object = crud::get(&ctx).await?;
            match table_wanted(&ctx) {
                Some(include) => respond::ok(&table::table(
                    target.rt,
                    custom_version(&ctx).as_deref(),
                    std::slice::from_ref(&object),
                    json!({}),
                    include,
                )),
                None => respond::ok(&object),
            }
        }
        ("GET", true, Some("scale")) => {
            let custom = custom_version(&ctx);
            respond::ok(&subresources::scale_of(&crud::get(&ctx).await?, custom.as_ref().and_then(|v| v.scale.as_ref())))
        }
        ("POST", false, None) => {
            let object = body::decode_object(ctx.headers, &body::read(body).await?)?;
            written(crud::create(&ctx, object, &mut warnings).await?)
        }
        ("PUT", true, None | Some("status")) => {
            let object = body::decode_object(ctx.headers, &body::read(body).await?)?;
            let part = if sub == Some("status") {
                Part::Status
            } else {
                Part::Main
            };
            let current = crud::current(&ctx).await?;
            written(crud::replace(&ctx, object, &current, part, &mut warnings).await?)
        }
        ("PUT", true, Some("scale")) => {
            let scale = body::decode_object(ctx.headers, &body::read(body).await?)?;
            respond::ok(&scale_write(&ctx, |_| Ok(scale.clone()), &mut warnings).await?)
        }
        ("PATCH", true, None | Some("status")) => {
            let patch = body::read(body).await?;
            let part = if sub == Some("status") {
                Part::Status
            } else {
                Part::Main
            };
            if fieldmanager::is_apply(ctx.headers) {
                written(apply_object(&ctx, &patch, part, &mut warnings).await?)
            } else {
                fieldmanager::check_not_forced(ctx.query)?;
                written(patch_object(&ctx, &patch, part, &mut warnings).await?)
            }
        }
        ("PATCH", true, Some("scale")) => {
            let patch = body::read(body).await?;
            respond::ok(
                &scale_write(
                    &ctx,
                    |scale| patch::apply(ctx.headers, scale, &patch, tug_api::schema::builtin_kind("autoscaling", "v1", "Scale")),
                    &mut warnings,
                )
                .await?,
            )
        }
        ("PUT", true, Some("finalize")) if (target.rt.group, target.rt.kind) == ("", "Namespace") => {
            let object = body::decode_object(ctx.headers, &body::read(body).await?)?;
            let current = crud::current(&ctx).await?;
            let mut namespace = crate::object::from_kv(target.rt, &current)?;
            namespace["spec"]["finalizers"] = object.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
            written(crud::replace(&ctx, namespace, &current, Part::Whole, &mut warnings).await?)
        }
        ("POST", true, Some("token")) => {
            let request = body::decode_object(ctx.headers, &body::read(body).await?)?;
            return token_request::create(&ctx, request).await;
        }
        ("POST", true, Some("binding")) => {
            let binding = body::decode_object(ctx.headers, &body::read(body).await?)?;
            bind(&ctx, &binding, &mut warnings).await?;
            respond::json(
                axum::http::StatusCode::CREATED,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            )
        }
        ("DELETE", true, None) => {
            let options = delete_options(&ctx, body).await?;
            written(crud::delete(&ctx, &options, &mut warnings).await?)
        }
        ("DELETE", false, None) => {
            let options = delete_options(&ctx, body).await?;
            respond::ok(&crud::delete_collection(&ctx, &options, &mut warnings).await?)
        }
        (_, _, Some(other)) => {
            return Err(ApiError::method_not_allowed(format!(
                "the {other} subresource of {} is not served yet",
                target.rt.plural
            )))
        }
        (m, _, None) => {
            return Err(ApiError::method_not_allowed(format!(
                "{m} is not supported on this path"
            )))
        }
    };
    Ok(with_warnings(response, &warnings))
}

fn written(written: crud::Written) -> Response {
    respond::json(written.code, &written.object)
}

/// Adds a `Warning` header per warning, as kubectl prints them.
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        let text = format!("299 - \"{escaped}\"");
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

async fn delete_options(ctx: &Ctx<'_>, body: axum::body::Body) -> ApiResult<DeleteOptions> {
    let bytes = body::read(body).await?;
    let value = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(body::decode_object(ctx.headers, &bytes)?)
    };
    DeleteOptions::read(ctx, value.as_ref())
}

/// How often a patch is retried when the object changes under it.
const PATCH_ATTEMPTS: usize = 5;

/// PATCH of an object or its status: applies the patch to the current version and writes it
/// with compare-and-swap, trying again on a concurrent change.
async fn patch_object(
    ctx: &Ctx<'_>,
    patch: &[u8],
    part: Part,
    warnings: &mut Vec<String>,
) -> ApiResult<crud::Written> {
    if ctx.target.rt.custom && body::content_type(ctx.headers) == "application/strategic-merge-patch+json" {
        // As kube-apiserver: custom kinds have no patch-merge keys to merge by.
        return Err(ApiError::strategic_patch_on_custom(ctx.target.rt));
    }
    let mut last = None;
    for _ in 0..PATCH_ATTEMPTS {
        let current = crud::current(ctx).await?;
        let original = crate::object::from_kv(ctx.target.rt, &current)?;
        let rt = ctx.target.rt;
        let patched = patch::apply(ctx.headers, &original, patch, tug_api::schema::builtin_kind(rt.group, rt.version, rt.kind))?;
        let explicit_rv = patched.pointer("/metadata/resourceVersion")
            != original.pointer("/metadata/resourceVersion");
        match crud::replace(ctx, patched, &current, part, warnings).await {
            Err(e) if e.code == 409 && e.reason == "Conflict" && !explicit_rv => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| ApiError::stale(ctx.target.rt, ctx.target.name())))
}

/// Server-side apply of an object or its status; creates the object when it is missing.
async fn apply_object(
    ctx: &Ctx<'_>,
    body: &[u8],
    part: Part,
    warnings: &mut Vec<String>,
) -> ApiResult<crud::Written> {
    let rt = ctx.target.rt;
    let manager = fieldmanager::apply_manager(ctx.query)?;
    let force = ctx.query.flag("force");
    let mut applied = body::yaml(body)?;
    let name = ctx.target.name();
    match crate::object::meta_str(&applied, "name") {
        Some(n) if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
        Some(_) => {}
        None => crate::object::set_meta(&mut applied, "name", json!(name)),
    }
    let subresource = ctx.target.subresource.as_deref().unwrap_or("");
    let custom = custom_version(ctx);
    let mut last = None;
    for _ in 0..PATCH_ATTEMPTS {
        let now = crate::object::now();
        let writer = fieldmanager::Writer { rt, schema: schema_root(rt, custom.as_deref()), subresource, manager: &manager, now: &now };
        let current = match crud::current(ctx).await {
            Ok(kv) => kv,
            Err(e) if e.code == 404 && part == Part::Main => {
                let object = fieldmanager::apply(&writer, None, applied.clone(), force)?;
                match crud::create(ctx, object, warnings).await {
                    Err(e) if e.code == 409 && e.reason == "AlreadyExists" => continue,
                    other => return other,
                }
            }
            Err(e) => return Err(e),
        };
        let live = crate::object::from_kv(rt, &current)?;
        let object = fieldmanager::apply(&writer, Some(&live), applied.clone(), force)?;
        let explicit_rv = applied.pointer("/metadata/resourceVersion").is_some();
        match crud::replace(ctx, object, &current, part, warnings).await {
            Err(e) if e.code == 409 && e.reason == "Conflict" && !explicit_rv => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| ApiError::stale(rt, ctx.target.name())))
}

/// A write through the scale subresource: `change` turns the current Scale into the wanted one.
async fn scale_write(
    ctx: &Ctx<'_>,
    change: impl Fn(&Value) -> ApiResult<Value>,
    warnings: &mut Vec<String>,
) -> ApiResult<Value> {
    if !ctx.target.rt.has(Subresource::Scale) {
        return Err(ApiError::no_route());
    }
    let custom = custom_version(ctx);
    let paths = custom.as_ref().and_then(|v| v.scale.as_ref());
    for _ in 0..PATCH_ATTEMPTS {
        let current = crud::current(ctx).await?;
        let scale = change(&subresources::scale_of(&crate::object::from_kv(ctx.target.rt, &current)?, paths))?;
        let object = subresources::apply_scale(ctx.target.rt, &current, &scale, paths)?;
        let mut unversioned = object;
        crate::object::meta_mut(&mut unversioned).remove("resourceVersion");
        match crud::replace(ctx, unversioned, &current, Part::Main, warnings).await {
            Ok(written) => return Ok(subresources::scale_of(&written.object, paths)),
            Err(e) if e.code == 409 && e.reason == "Conflict" => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::stale(ctx.target.rt, ctx.target.name()))
}

/// Binds a pod to a node, trying again if the pod changes under the write.
async fn bind(ctx: &Ctx<'_>, binding: &Value, warnings: &mut Vec<String>) -> ApiResult<()> {
    for _ in 0..PATCH_ATTEMPTS {
        let current = crud::current(ctx).await?;
        let pod = subresources::bind(ctx.target.rt, &current, binding)?;
        match crud::replace(ctx, pod, &current, Part::Whole, warnings).await {
            Ok(_) => return Ok(()),
            Err(e) if e.code == 409 && e.reason == "Conflict" => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::stale(ctx.target.rt, ctx.target.name()))
}

/// Answers 404 Status for paths outside the API.
pub async fn not_found() -> Response {
    ApiError::no_route().into_response()
}
