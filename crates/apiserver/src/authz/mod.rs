//! Authorization: may this user do this? Every authenticated request is
//! described by its [`Attributes`] (Kubernetes' request attributes: verb,
//! resource or non-resource path, namespace, name) and put to an
//! [`Authorizer`]; a request nobody allows is answered 403 Forbidden.
//!
//! The server asks a [`Chain`]: members of `system:masters`, then the
//! [`node`] authorizer for agents, then [`rbac`]. [`defaults`] writes the
//! default roles and bindings at start, [`escalation`] keeps users from
//! granting what they do not hold, [`aggregation`] keeps aggregated
//! ClusterRoles' stored rules filled.

pub mod aggregation;
pub mod defaults;
pub mod escalation;
pub mod node;
pub mod rbac;
pub(crate) mod reflector;
pub mod rules;

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

    /// The decision with the reason for it (for the audit log and denial messages).
    fn decide_explained<'a>(&'a self, attributes: &'a Attributes) -> BoxFuture<'a, (Decision, String)> {
        Box::pin(async move {
            let decision = self.authorize(attributes).await;
            let reason = match &decision {
                Decision::Deny(reason) => reason.clone(),
                _ => String::new(),
            };
            (decision, reason)
        })
    }
}

/// The group whose members may do anything, as in Kubernetes.
pub const MASTERS: &str = "system:masters";

/// Allows every request of a `system:masters` member; no opinion on others.
pub struct Masters;

impl Authorizer for Masters {
    fn authorize<'a>(&'a self, attributes: &'a Attributes) -> BoxFuture<'a, Decision> {
        let member = attributes.user.groups.iter().any(|g| g == MASTERS);
        Box::pin(async move {
            if member {
                Decision::Allow
            } else {
                Decision::NoOpinion
            }
        })
    }

    fn decide_explained<'a>(&'a self, attributes: &'a Attributes) -> BoxFuture<'a, (Decision, String)> {
        Box::pin(async move {
            match self.authorize(attributes).await {
                Decision::Allow => (Decision::Allow, format!("allowed: member of group {MASTERS:?}")),
                other => (other, String::new()),
            }
        })
    }
}

/// Asks each authorizer in turn: the first allow or deny decides; if all have no
/// opinion the request is denied with their reasons.
pub struct Chain(pub Vec<std::sync::Arc<dyn Authorizer>>);

impl Authorizer for Chain {
    fn authorize<'a>(&'a self, attributes: &'a Attributes) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            match self.decide_explained(attributes).await {
                (Decision::NoOpinion, reason) if !reason.is_empty() => Decision::Deny(reason),
                (decision, _) => decision,
            }
        })
    }

    fn decide_explained<'a>(&'a self, attributes: &'a Attributes) -> BoxFuture<'a, (Decision, String)> {
        Box::pin(async move {
            let mut reasons = Vec::new();
            for authorizer in &self.0 {
                match authorizer.decide_explained(attributes).await {
                    (Decision::NoOpinion, reason) => {
                        if !reason.is_empty() {
                            reasons.push(reason);
                        }
                    }
                    decided => return decided,
                }
            }
            (Decision::NoOpinion, reasons.join(", "))
        })
    }
}

impl Attributes {
    /// The attributes of an HTTP request by `user`: a resource request if the path names
    /// one, a non-resource request otherwise.
    pub fn of_request(user: User, method: &Method, path: &str, query: Option<&str>) -> Attributes {
        Attributes::of_request_in(&crate::crds::CustomKinds::default(), user, method, path, query)
    }

    /// [`Attributes::of_request`] with the custom kinds served now.
    pub fn of_request_in(kinds: &crate::crds::CustomKinds, user: User, method: &Method, path: &str, query: Option<&str>) -> Attributes {
        match request::route(path, kinds) {
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
            Ok(Route::CustomMetric(m)) => Attributes {
                user,
                verb: "get".to_string(),
                target: Target::Resource {
                    group: request::CUSTOM_METRICS.0.to_string(),
                    resource: m.resource,
                    subresource: Some(m.metric),
                    namespace: m.namespace,
                    name: Some(m.name),
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
