//! The audit log: one `audit.k8s.io/v1` Event per stage of each request, as
//! JSON lines, at the level the [`policy`] gives (Metadata: who did what to
//! which object and the outcome; Request: plus the request body;
//! RequestResponse: plus the response body). The [`layer`] wraps the whole
//! API, so requests refused by authentication (401) are audited too; the
//! authorization layer leaves the user and its decision in a [`Slot`] on the
//! request. Events go through a channel to a writer thread that appends them
//! in order and flushes whenever the channel is empty, so the request path
//! never waits on the disk.

pub mod policy;
mod writer;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::{json, Map, Value};

use crate::authn::User;
use crate::authz::{Attributes, Target};
use policy::{Level, Policy, Stage};

pub use policy::PolicyError;

/// What the authorization layer learned about a request, for its audit events.
#[derive(Default)]
pub struct Record {
    pub user: Option<User>,
    pub attributes: Option<Attributes>,
    /// "allow" or "forbid", and why.
    pub decision: Option<(&'static str, String)>,
}

/// Shared between the audit layer and the authorization layer of one request.
#[derive(Clone, Default)]
pub struct Slot(pub Arc<Mutex<Record>>);

impl Slot {
    /// Notes the authenticated user, what it asked and the authorizer's answer.
    pub fn record(&self, attributes: &Attributes, allowed: bool, reason: &str) {
        let mut record = self.0.lock().unwrap_or_else(|e| e.into_inner());
        record.user = Some(attributes.user.clone());
        record.attributes = Some(attributes.clone());
        record.decision = Some((if allowed { "allow" } else { "forbid" }, reason.to_string()));
    }
}

/// The client's address, put on each request by the accept loop.
#[derive(Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The audit policy and the log it writes to.
pub struct Auditor {
    policy: Policy,
    log: writer::Writer,
}

impl Auditor {
    /// Appends to `path` (created if missing) by `policy`.
    pub fn open(path: &std::path::Path, policy: Policy) -> std::io::Result<Auditor> {
        Ok(Auditor {
            policy,
            log: writer::Writer::open(path)?,
        })
    }
}

/// The audit layer: runs the request, then logs its events.
pub async fn layer(State(auditor): State<Arc<Auditor>>, mut request: Request, next: Next) -> Response {
    let received = crate::object::now_micro();
    let id = uuid::Uuid::new_v4().to_string();
    let slot = Slot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().clone();
    let uri = request.uri().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let user_agent = header(&request, "user-agent");
    let forwarded = header(&request, "x-forwarded-for");
    let mut source_ips: Vec<String> = forwarded
        .map(|f| f.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    if let Some(peer) = request.extensions().get::<PeerAddr>() {
        source_ips.push(peer.0.ip().to_string());
    }
    let watch = query.as_deref().is_some_and(|q| {
        q.split('&').any(|p| p == "watch=true" || p == "watch=1" || p == "watch")
    });
    let mut request_body = None;
    if auditor.policy.logs_bodies() && matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        let (parts, body) = request.into_parts();
        // Too large or unreadable: answered as the handler would (413, 400), unaudited.
        let bytes = match crate::body::read(body).await {
            Ok(bytes) => bytes,
            Err(e) => return e.into_response(),
        };
        request_body = Some(bytes.clone());
        request = Request::from_parts(parts, Body::from(bytes));
    }

    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("audit-id", value);
    }

    let record = std::mem::take(&mut *slot.0.lock().unwrap_or_else(|e| e.into_inner()));
    let attributes = record.attributes.unwrap_or_else(|| {
        Attributes::of_request(User::anonymous(), &method, &path, query.as_deref())
    });
    let decision = auditor.policy.decide(record.user.as_ref(), &attributes);
    if decision.level == Level::None {
        return response;
    }
    let code = response.status().as_u16();
    let mut event = Map::new();
    event.insert("kind".into(), json!("Event"));
    event.insert("apiVersion".into(), json!("audit.k8s.io/v1"));
    event.insert("level".into(), json!(format!("{:?}", decision.level)));
    event.insert("auditID".into(), json!(id));
    event.insert("requestURI".into(), json!(uri));
    event.insert("verb".into(), json!(attributes.verb));
    event.insert(
        "user".into(),
        match &record.user {
            Some(u) => json!({"username": u.name, "groups": u.groups}),
            None if code == 401 => json!({}),
            None => json!({"username": "system:anonymous", "groups": ["system:unauthenticated"]}),
        },
    );
    event.insert("sourceIPs".into(), json!(source_ips));
    if let Some(agent) = user_agent {
        event.insert("userAgent".into(), json!(agent));
    }
    if let Target::Resource {
        group,
        resource,
        subresource,
        namespace,
        name,
    } = &attributes.target
    {
        let mut object_ref = json!({"resource": resource, "apiGroup": group});
        if let Some(version) = version_of(&path) {
            object_ref["apiVersion"] = json!(version);
        }
        for (field, value) in [("namespace", namespace), ("name", name), ("subresource", subresource)] {
            if let Some(value) = value {
                object_ref[field] = json!(value);
            }
        }
        event.insert("objectRef".into(), object_ref);
    }
    event.insert("requestReceivedTimestamp".into(), json!(received));
    let mut annotations = Map::new();
    if let Some((verdict, reason)) = &record.decision {
        annotations.insert("authorization.k8s.io/decision".into(), json!(verdict));
        annotations.insert("authorization.k8s.io/reason".into(), json!(reason));
    }
    // What admission plugins noted (e.g. PodSecurity's audit-mode violations).
    if let Some(admission) = response.extensions().get::<crate::admission::AuditAnnotations>() {
        for (key, value) in &admission.0 {
            annotations.insert(key.clone(), json!(value));
        }
    }
    if !annotations.is_empty() {
        event.insert("annotations".into(), Value::Object(annotations));
    }
    let log = |stage: Stage, event: &Map<String, Value>, extra: &[(&str, Value)]| {
        if decision.omit_stages.contains(&stage) {
            return;
        }
        let mut event = event.clone();
        event.insert("stage".into(), json!(stage.name()));
        event.insert("stageTimestamp".into(), json!(crate::object::now_micro()));
        for (k, v) in extra {
            event.insert((*k).into(), v.clone());
        }
        auditor.log.send(Value::Object(event));
    };
    log(Stage::RequestReceived, &event, &[]);
    if decision.level >= Level::Request {
        if let Some(body) = request_body.as_ref().and_then(|b| serde_json::from_slice::<Value>(b).ok()) {
            event.insert("requestObject".into(), body);
        }
    }
    if watch && code < 300 {
        log(Stage::ResponseStarted, &event, &[("responseStatus", json!({"metadata": {}, "code": code}))]);
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let parsed = serde_json::from_slice::<Value>(&bytes).ok();
    let mut status = json!({"metadata": {}, "code": code});
    if let Some(failure) = parsed.as_ref().filter(|v| v.get("kind") == Some(&json!("Status"))) {
        for field in ["status", "message", "reason", "details"] {
            if let Some(value) = failure.get(field) {
                status[field] = value.clone();
            }
        }
    }
    let mut extra = vec![("responseStatus", status)];
    if decision.level == Level::RequestResponse {
        if let Some(object) = parsed {
            extra.push(("responseObject", object));
        }
    }
    log(Stage::ResponseComplete, &event, &extra);
    Response::from_parts(parts, Body::from(bytes))
}

/// The API version in a resource path (`/api/v1/...`, `/apis/<group>/<version>/...`).
fn version_of(path: &str) -> Option<&str> {
    let mut parts = path.trim_start_matches('/').split('/');
    match parts.next()? {
        "api" => parts.next(),
        "apis" => parts.nth(1),
        _ => None,
    }
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
