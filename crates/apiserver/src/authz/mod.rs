//! Authorization: may this user do this? Every authenticated request is
//! described by its [`Attributes`] (Kubernetes' request attributes: verb,
//! resource or non-resource path, namespace, name) and put to an
//! [`Authorizer`]; a request nobody allows is answered 403 Forbidden.

use std::future::Future;
use std::pin::Pin;

use axum::http::Method;
use serde_json::json;

use crate::authn::User;
use crate::request::{self, Query, Route};
use crate::status::ApiError;

/// What a request asks to do, as Kubernetes authorizers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub user: User,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`
    /// (and `impersonate`, `bind`, `escalate`, …) for resources; the lower-case HTTP
    /// method for non-resource paths.
    pub verb: String,
    pub target: Target,
}

/// What the request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Resource {
        /// "" for the core group.
        group: String,
        /// The plural, e.g. "pods".
        resource: String,
        subresource: Option<String>,
        namespace: Option<String>,
        name: Option<String>,
    },
    /// A path outside the resource tree: `/api`, `/apis/apps`, `/openapi/v2`, `/metrics`, …
    NonResource { path: String },
}

/// The answer of one authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Denied outright, with the reason; later authorizers are not asked.
    Deny(String),
    /// This authorizer has no rule for the request; the next one is asked.
    NoOpinion,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One way of deciding requests.
pub trait Authorizer: Send + Sync {
    fn authorize<'a>(&'a self, attributes: &'a Attributes) -> BoxFuture<'a, Decision>;
}

/// Allows everything an authenticated user asks: the behaviour before RBAC,
/// Kubernetes' `--authorization-mode=AlwaysAllow`.
pub struct AlwaysAllow;

impl Authorizer for AlwaysAllow {
    fn authorize<'a>(&'a self, _: &'a Attributes) -> BoxFuture<'a, Decision> {
        Box::pin(async { Decision::Allow })
    }
}

impl Attributes {
    /// The attributes of an HTTP request by `user`: a resource request if the path names
    /// one, a non-resource request otherwise.
    pub fn of_request(user: User, method: &Method, path: &str, query: Option<&str>) -> Attributes {
        match request::route(path) {
            Ok(Route::Object(t)) => Attributes {
                user,
                verb: request::verb(method, &t, &Query::parse(query)).to_string(),
                target: Target::Resource {
                    group: t.rt.group.to_string(),
                    resource: t.rt.plural.to_string(),
                    subresource: t.subresource,
                    namespace: t.namespace,
                    name: t.name,
                },
            },
            _ => Attributes {
                user,
                verb: method.as_str().to_ascii_lowercase(),
                target: Target::NonResource {
                    path: path.to_string(),
                },
            },
        }
    }

    /// The 403 Status for a denied request, worded as Kubernetes words it.
    pub fn forbidden(&self, reason: &str) -> ApiError {
        let user = &self.user.name;
        let verb = &self.verb;
        let why = if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        };
        match &self.target {
            Target::Resource {
                group,
                resource,
                subresource,
                namespace,
                name,
            } => {
                let full = match subresource {
                    Some(sub) => format!("{resource}/{sub}"),
                    None => resource.clone(),
                };
                let what = match name {
                    Some(name) => format!("{full} \"{name}\""),
                    None => full.clone(),
                };
                let scope = match namespace {
                    Some(ns) => format!("in the namespace \"{ns}\""),
                    None => "at the cluster scope".to_string(),
                };
                ApiError::forbidden(
                    format!("{what} is forbidden: User \"{user}\" cannot {verb} resource \"{full}\" in API group \"{group}\" {scope}{why}"),
                    Some(json!({"name": name.as_deref().unwrap_or_default(), "group": group, "kind": resource})),
                )
            }
            Target::NonResource { path } => ApiError::forbidden(
                format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\"{why}"),
                None,
            ),
        }
    }
}
