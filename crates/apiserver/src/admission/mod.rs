//! Admission: the plugins every write passes between authorization and the store, as
//! kube-apiserver runs them. First every plugin may *mutate* a created or updated object
//! (fill in defaults: the ServiceAccount's token volume, LimitRange defaults, the default
//! storage class, pod priority, the default not-ready/unreachable tolerations); the handler validates the result again; then every plugin may
//! *validate* it (refuse: a terminating namespace, a LimitRange bound, a PodSecurity level,
//! an exceeded ResourceQuota, which also charges the quota). Deletes only pass validation.
//!
//! Plugins read what they need straight from the store and answer with the `Forbidden`
//! Status Kubernetes clients print (`pods "p" is forbidden: exceeded quota: …`). Warnings
//! go back as `Warning` headers; audit annotations ride on the response for the audit log.

mod default_storage_class;
mod default_toleration_seconds;
mod limit_range;
mod namespace_lifecycle;
mod pod_security;
mod priority;
mod resource_quota;
mod service_account;

use futures_util::future::BoxFuture;
use serde_json::Value;
use tug_api::ResourceType;
use tug_store::{KeyRange, KeyValue, RangeRequest, Store};

use crate::authn::User;
use crate::object::from_kv;
use crate::status::{qualified_resource, ApiError, ApiResult};

/// What a request does to its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// The request a plugin is asked about.
pub struct Request<'a> {
    pub operation: Operation,
    pub rt: &'static ResourceType,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    /// The stored object, on update and delete.
    pub old: Option<&'a Value>,
    pub user: &'a User,
    /// A dry run changes nothing, not even quota usage.
    pub dry_run: bool,
    pub store: &'a dyn Store,
}

impl Request<'_> {
    /// Whether the request is about `kind` in the core or a named group.
    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.rt.group == group && self.rt.kind == kind
    }

    /// The refusal Kubernetes gives: `pods "p" is forbidden: <why>`.
    pub fn forbidden(&self, why: impl std::fmt::Display) -> ApiError {
        forbidden(self.rt, self.name, why)
    }
}

/// `pods "p" is forbidden: <why>`, as a 403 Status.
fn forbidden(rt: &ResourceType, name: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::forbidden(
        format!("{} \"{name}\" is forbidden: {why}", qualified_resource(rt)),
        Some(serde_json::json!({"name": name, "group": rt.group, "kind": rt.plural})),
    )
}

/// What admission adds to a response besides the object.
#[derive(Debug, Default)]
pub struct Review {
    /// Sent as `Warning` headers (kubectl prints them as `Warning: …`).
    pub warnings: Vec<String>,
    /// Key/value annotations for the audit event of the request.
    pub audit_annotations: Vec<(String, String)>,
}

/// The audit annotations admission added to a request, set on its response's extensions
/// so that the audit log can record them.
#[derive(Debug, Clone, Default)]
pub struct AuditAnnotations(pub Vec<(String, String)>);

type Admit<'a> = BoxFuture<'a, ApiResult<()>>;

/// One admission plugin. Both phases default to letting everything through.
pub trait Plugin: Send + Sync {
    /// The name `--disable-admission-plugins` takes, as kube-apiserver names it.
    fn name(&self) -> &'static str;

    /// May change a created or updated object.
    fn mutate<'a>(
        &'a self,
        _request: &'a Request<'a>,
        _object: &'a mut Value,
        _review: &'a mut Review,
    ) -> Admit<'a> {
        Box::pin(async { Ok(()) })
    }

    /// May refuse a write (for a delete, `object` is the stored object).
    fn validate<'a>(
        &'a self,
        _request: &'a Request<'a>,
        _object: &'a Value,
        _review: &'a mut Review,
    ) -> Admit<'a> {
        Box::pin(async { Ok(()) })
    }
}

/// Every plugin, in the order they run.
fn all_plugins() -> Vec<Box<dyn Plugin>> {
    vec![
        Box::new(namespace_lifecycle::NamespaceLifecycle),
        Box::new(limit_range::LimitRanger),
        Box::new(service_account::ServiceAccount),
        Box::new(priority::Priority),
        Box::new(default_storage_class::DefaultStorageClass),
        Box::new(default_toleration_seconds::DefaultTolerationSeconds),
        Box::new(pod_security::PodSecurity),
        Box::new(resource_quota::ResourceQuota::default()),
    ]
}

/// A plugin name that names no plugin.
#[derive(Debug, thiserror::Error)]
#[error("unknown admission plugin {name:?}; the plugins are {known}")]
pub struct UnknownPlugin {
    pub name: String,
    pub known: String,
}

/// The plugins a server runs.
pub struct Chain {
    plugins: Vec<Box<dyn Plugin>>,
}

impl Chain {
    /// Every plugin but the `disabled` ones.
    pub fn new(disabled: &[String]) -> Result<Chain, UnknownPlugin> {
        let plugins = all_plugins();
        if let Some(name) = disabled
            .iter()
            .find(|d| !plugins.iter().any(|p| p.name() == d.as_str()))
        {
            return Err(UnknownPlugin {
                name: name.clone(),
                known: plugins
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(Chain {
            plugins: plugins
                .into_iter()
                .filter(|p| !disabled.iter().any(|d| d == p.name()))
                .collect(),
        })
    }

    pub async fn mutate(
        &self,
        request: &Request<'_>,
        object: &mut Value,
        review: &mut Review,
    ) -> ApiResult<()> {
        for plugin in &self.plugins {
            plugin.mutate(request, object, review).await?;
        }
        Ok(())
    }

    pub async fn validate(
        &self,
        request: &Request<'_>,
        object: &Value,
        review: &mut Review,
    ) -> ApiResult<()> {
        for plugin in &self.plugins {
            plugin.validate(request, object, review).await?;
        }
        Ok(())
    }
}

/// The stored objects of `group`/`plural` in `namespace` (all of them when cluster-scoped),
/// with their store entries.
async fn list(
    store: &dyn Store,
    group: &str,
    plural: &str,
    namespace: Option<&str>,
) -> ApiResult<Vec<(KeyValue, Value)>> {
    let rt = registered(group, plural)?;
    let response = store
        .range(RangeRequest::new(KeyRange::prefix(rt.prefix(namespace))))
        .await?;
    response
        .kvs
        .into_iter()
        .map(|kv| {
            let object = from_kv(rt, &kv)?;
            Ok((kv, object))
        })
        .collect()
}

/// One stored object, if present.
async fn get(
    store: &dyn Store,
    group: &str,
    plural: &str,
    namespace: Option<&str>,
    name: &str,
) -> ApiResult<Option<Value>> {
    let rt = registered(group, plural)?;
    match store.get(&rt.key(namespace, name)).await? {
        Some(kv) => Ok(Some(from_kv(rt, &kv)?)),
        None => Ok(None),
    }
}

/// The storage version of a registered resource.
fn registered(group: &str, plural: &str) -> ApiResult<&'static ResourceType> {
    tug_api::registry::all()
        .iter()
        .find(|t| t.group == group && t.plural == plural && t.storage_version)
        .ok_or_else(|| ApiError::internal(format!("{plural} are not registered")))
}

/// The pod spec and metadata a workload's template holds (the object itself for a pod).
fn pod_template(rt: &ResourceType, object: &Value) -> Option<(Value, Value)> {
    let template = match (rt.group, rt.kind) {
        ("", "Pod") => object,
        ("", "PodTemplate") => object.get("template")?,
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("", "ReplicationController")
        | ("batch", "Job") => object.pointer("/spec/template")?,
        ("batch", "CronJob") => object.pointer("/spec/jobTemplate/spec/template")?,
        _ => return None,
    };
    Some((
        template.get("metadata").cloned().unwrap_or(Value::Null),
        template.get("spec").cloned().unwrap_or(Value::Null),
    ))
}
