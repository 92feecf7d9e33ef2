//! The connection: raw REST calls over a kube-rs [`kube::Client`], on dynamic
//! (JSON) objects, addressed by a [`ResourceInfo`].

use futures_util::{AsyncBufReadExt, Stream, StreamExt};
use http::{Method, Request};
use serde_json::Value;

use crate::config::{self, ConnectOptions};
use crate::error::{Error, Result};
use crate::resources::ResourceInfo;

pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// How a PATCH body is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Strategic,
    Merge,
    Json,
}

impl PatchType {
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Json => "application/json-patch+json",
        }
    }

    pub fn parse(s: &str) -> Result<PatchType> {
        match s {
            "strategic" => Ok(PatchType::Strategic),
            "merge" => Ok(PatchType::Merge),
            "json" => Ok(PatchType::Json),
            other => Err(Error::client(format!(
                "--type must be one of [json merge strategic], not \"{other}\""
            ))),
        }
    }
}

/// List/watch filters.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
}

/// One event of a watch.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub kind: String,
    pub object: Value,
}

/// A connected client, with the namespace of the current context.
#[derive(Clone)]
pub struct Conn {
    pub client: kube::Client,
    pub default_namespace: String,
}

impl Conn {
    pub async fn connect(opts: &ConnectOptions) -> Result<Conn> {
        let config = config::load(opts).await?;
        let default_namespace = config.default_namespace.clone();
        let client = kube::Client::try_from(config)
            .map_err(|e| Error::client(format!("cannot build a client: {e}")))?;
        Ok(Conn {
            client,
            default_namespace,
        })
    }

    /// The URL path of a type's collection (in `ns` when namespaced and given) or of one object.
    pub fn path(ri: &ResourceInfo, ns: Option<&str>, name: Option<&str>) -> String {
        let mut p = if ri.group.is_empty() {
            format!("/api/{}", ri.version)
        } else {
            format!("/apis/{}/{}", ri.group, ri.version)
        };
        if ri.namespaced {
            if let Some(ns) = ns {
                p.push_str("/namespaces/");
                p.push_str(ns);
            }
        }
        p.push('/');
        p.push_str(&ri.plural);
        if let Some(n) = name {
            p.push('/');
            p.push_str(n);
        }
        p
    }

    fn request(
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        accept: &str,
        body: Vec<u8>,
    ) -> Result<Request<Vec<u8>>> {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("Accept", accept);
        if let Some(ct) = content_type {
            b = b.header("Content-Type", ct);
        }
        b.body(body)
            .map_err(|e| Error::client(format!("bad request {uri}: {e}")))
    }

    /// GET any path, as JSON.
    pub async fn get_path(&self, path: &str) -> Result<Value> {
        let req = Self::request(Method::GET, path, None, "application/json", vec![])?;
        Ok(self.client.request::<Value>(req).await?)
    }

    pub async fn get(&self, ri: &ResourceInfo, ns: Option<&str>, name: &str) -> Result<Value> {
        self.get_path(&Self::path(ri, ns, Some(name))).await
    }

    pub async fn list(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<Value> {
        let path = with_query(Self::path(ri, ns, None), opts, &[]);
        self.get_path(&path).await
    }

    /// The server-side Table of a list (or of one object when `name` is given).
    pub async fn table(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        name: Option<&str>,
        opts: &ListOptions,
    ) -> Result<Value> {
        let path = with_query(
            Self::path(ri, ns, name),
            opts,
            &[("includeObject", "Object")],
        );
        let req = Self::request(Method::GET, &path, None, TABLE_ACCEPT, vec![])?;
        Ok(self.client.request::<Value>(req).await?)
    }

    pub async fn create(&self, ri: &ResourceInfo, ns: Option<&str>, obj: &Value) -> Result<Value> {
        let req = Self::request(
            Method::POST,
            &Self::path(ri, ns, None),
            Some("application/json"),
            "application/json",
            serde_json::to_vec(obj)?,
        )?;
        Ok(self.client.request::<Value>(req).await?)
    }

    pub async fn replace(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        obj: &Value,
    ) -> Result<Value> {
        let req = Self::request(
            Method::PUT,
            &Self::path(ri, ns, Some(name)),
            Some("application/json"),
            "application/json",
            serde_json::to_vec(obj)?,
        )?;
        Ok(self.client.request::<Value>(req).await?)
    }

    pub async fn patch(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        pt: PatchType,
        patch: &Value,
    ) -> Result<Value> {
        self.patch_sub(ri, ns, name, None, pt, patch).await
    }

    pub async fn patch_sub(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        pt: PatchType,
        patch: &Value,
    ) -> Result<Value> {
        let mut path = Self::path(ri, ns, Some(name));
        if let Some(s) = sub {
            path.push('/');
            path.push_str(s);
        }
        let req = Self::request(
            Method::PATCH,
            &path,
            Some(pt.content_type()),
            "application/json",
            serde_json::to_vec(patch)?,
        )?;
        Ok(self.client.request::<Value>(req).await?)
    }

    /// Server-side apply of `object` (PATCH `application/apply-patch+yaml`) by `manager`,
    /// taking conflicting fields over when `force`.
    pub async fn apply_patch(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        manager: &str,
        force: bool,
        object: &Value,
    ) -> Result<Value> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("fieldManager", manager);
        if force {
            query.append_pair("force", "true");
        }
        let path = format!("{}?{}", Self::path(ri, ns, Some(name)), query.finish());
        let req = Self::request(
            Method::PATCH,
            &path,
            Some("application/apply-patch+yaml"),
            "application/json",
            serde_json::to_vec(object)?,
        )?;
        Ok(self.client.request::<Value>(req).await?)
    }

    /// DELETE with `propagation` Background, Foreground or Orphan (`--cascade`).
    pub async fn delete(&self, ri: &ResourceInfo, ns: Option<&str>, name: &str, propagation: &str) -> Result<Value> {
        let body = serde_json::to_vec(
            &serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}),
        )?;
        let req = Self::request(
            Method::DELETE,
            &Self::path(ri, ns, Some(name)),
            Some("application/json"),
            "application/json",
            body,
        )?;
        Ok(self.client.request::<Value>(req).await?)
    }

    /// Watches a collection (or one object, with a field selector on its name) from
    /// `resource_version`; with `table`, the objects are Tables of one row.
    pub async fn watch(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOptions,
        resource_version: &str,
        table: bool,
    ) -> Result<impl Stream<Item = Result<WatchEvent>> + use<>> {
        let mut extra = vec![("watch", "true"), ("allowWatchBookmarks", "false")];
        if !resource_version.is_empty() {
            extra.push(("resourceVersion", resource_version));
        }
        if table {
            extra.push(("includeObject", "Object"));
        }
        let path = with_query(Self::path(ri, ns, None), opts, &extra);
        let accept = if table {
            TABLE_ACCEPT
        } else {
            "application/json"
        };
        let req = Self::request(Method::GET, &path, None, accept, vec![])?;
        let reader = self.client.request_stream(req).await?;
        let lines = reader.lines();
        Ok(lines.map(|line| {
            let line = line.map_err(|e| Error::client(format!("watch stream: {e}")))?;
            let v: Value = serde_json::from_str(&line)
                .map_err(|e| Error::client(format!("watch event: {e}")))?;
            let kind = v
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let object = v.get("object").cloned().unwrap_or(Value::Null);
            if kind == "ERROR" {
                return Err(Error::Api {
                    code: object.get("code").and_then(Value::as_u64).unwrap_or(500) as u16,
                    reason: object
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    message: object
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                });
            }
            Ok(WatchEvent { kind, object })
        }))
    }
}

fn with_query(mut path: String, opts: &ListOptions, extra: &[(&str, &str)]) -> String {
    let mut q: Vec<String> = Vec::new();
    if let Some(s) = opts.label_selector.as_deref().filter(|s| !s.is_empty()) {
        q.push(format!("labelSelector={}", encode(s)));
    }
    if let Some(s) = opts.field_selector.as_deref().filter(|s| !s.is_empty()) {
        q.push(format!("fieldSelector={}", encode(s)));
    }
    for (k, v) in extra {
        q.push(format!("{k}={}", encode(v)));
    }
    if !q.is_empty() {
        path.push('?');
        path.push_str(&q.join("&"));
    }
    path
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
