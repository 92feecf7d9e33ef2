//! Which `k8s-openapi` types the documents describe: every served kind (and, through it,
//! every type it refers to), plus the meta and subresource types the API's operations
//! take and return.

use k8s_openapi::api::{apps, authentication, authorization, autoscaling, batch, coordination, core, discovery, events, networking, policy, rbac, scheduling, storage};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use k8s_openapi::{ListableResource, Resource};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;

/// A served kind: its group/version/kind, list kind and schema.
pub(crate) struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub list_kind: &'static str,
    /// The Kubernetes definition name, e.g. "io.k8s.api.apps.v1.Deployment".
    pub name: fn() -> Cow<'static, str>,
    /// Adds the kind's schema (and everything it refers to) to the generator.
    pub schema: fn(&mut SchemaGenerator) -> Schema,
}

macro_rules! kinds {
    ($($t:ty),* $(,)? ; reviews: $($r:ty),* $(,)?) => {
        &[$(Kind {
            group: <$t as Resource>::GROUP,
            version: <$t as Resource>::VERSION,
            kind: <$t as Resource>::KIND,
            list_kind: <$t as ListableResource>::LIST_KIND,
            name: <$t as JsonSchema>::schema_name,
            schema: |g| g.subschema_for::<$t>(),
        }),*
        $(, Kind {
            group: <$r as Resource>::GROUP,
            version: <$r as Resource>::VERSION,
            kind: <$r as Resource>::KIND,
            list_kind: "",
            name: <$r as JsonSchema>::schema_name,
            schema: |g| g.subschema_for::<$r>(),
        })*]
    };
}

/// Every kind `registry::all()` serves (a unit test keeps the two in step).
pub(crate) static KINDS: &[Kind] = kinds![
    core::v1::Namespace,
    core::v1::Pod,
    core::v1::Service,
    core::v1::Endpoints,
    core::v1::ConfigMap,
    core::v1::Secret,
    core::v1::ServiceAccount,
    core::v1::Node,
    core::v1::PersistentVolume,
    core::v1::PersistentVolumeClaim,
    core::v1::Event,
    core::v1::LimitRange,
    core::v1::ResourceQuota,
    core::v1::ReplicationController,
    apps::v1::Deployment,
    apps::v1::ReplicaSet,
    apps::v1::StatefulSet,
    apps::v1::DaemonSet,
    apps::v1::ControllerRevision,
    autoscaling::v2::HorizontalPodAutoscaler,
    autoscaling::v1::HorizontalPodAutoscaler,
    batch::v1::Job,
    batch::v1::CronJob,
    networking::v1::Ingress,
    networking::v1::IngressClass,
    networking::v1::NetworkPolicy,
    rbac::v1::Role,
    rbac::v1::ClusterRole,
    rbac::v1::RoleBinding,
    rbac::v1::ClusterRoleBinding,
    coordination::v1::Lease,
    discovery::v1::EndpointSlice,
    events::v1::Event,
    storage::v1::StorageClass,
    scheduling::v1::PriorityClass,
    apiextensions::v1::CustomResourceDefinition;
    reviews:
    authentication::v1::TokenReview,
    authentication::v1::SelfSubjectReview,
    authorization::v1::SubjectAccessReview,
    authorization::v1::SelfSubjectAccessReview,
    authorization::v1::LocalSubjectAccessReview,
    authorization::v1::SelfSubjectRulesReview,
];

/// A type that is not a served kind but appears in operations: request and response bodies
/// of subresources, errors, watch events, discovery documents.
pub(crate) struct Extra {
    pub name: fn() -> Cow<'static, str>,
    pub schema: fn(&mut SchemaGenerator) -> Schema,
    /// The group/version/kind it carries, if it is an object with `kind` of its own
    /// (`None` for plain structures). `Some(("*", ..))` means "every served group/version"
    /// (DeleteOptions and WatchEvent, which every group accepts).
    pub gvk: Option<(&'static str, &'static str, &'static str)>,
}

macro_rules! extra {
    ($t:ty, $gvk:expr) => {
        Extra { name: <$t as JsonSchema>::schema_name, schema: |g| g.subschema_for::<$t>(), gvk: $gvk }
    };
}

pub(crate) static EXTRAS: &[Extra] = &[
    extra!(meta::Status, Some(("", "v1", "Status"))),
    extra!(meta::DeleteOptions, Some(("*", "*", "DeleteOptions"))),
    extra!(meta::WatchEvent<RawExtension>, Some(("*", "*", "WatchEvent"))),
    extra!(meta::Patch, None),
    extra!(meta::APIResourceList, Some(("", "v1", "APIResourceList"))),
    extra!(meta::APIGroupList, Some(("", "v1", "APIGroupList"))),
    extra!(meta::APIGroup, Some(("", "v1", "APIGroup"))),
    extra!(meta::APIVersions, Some(("", "v1", "APIVersions"))),
    extra!(autoscaling::v1::Scale, Some(("autoscaling", "v1", "Scale"))),
    extra!(policy::v1::Eviction, Some(("policy", "v1", "Eviction"))),
    extra!(core::v1::Binding, Some(("", "v1", "Binding"))),
    extra!(authentication::v1::TokenRequest, Some(("authentication.k8s.io", "v1", "TokenRequest"))),
];

/// Definition names used directly by the operations.
pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(crate) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
pub(crate) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub(crate) const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";
pub(crate) const EVICTION: &str = "io.k8s.api.policy.v1.Eviction";
pub(crate) const BINDING: &str = "io.k8s.api.core.v1.Binding";
pub(crate) const TOKEN_REQUEST: &str = "io.k8s.api.authentication.v1.TokenRequest";

pub(crate) fn kind(group: &str, version: &str, kind: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.group == group && k.version == version && k.kind == kind)
}

impl Kind {
    /// "io.k8s.api.apps.v1.DeploymentList": the list's definition sits beside the kind's.
    pub fn list_name(&self) -> String {
        let name = (self.name)();
        match name.rsplit_once('.') {
            Some((package, _)) => format!("{package}.{}", self.list_kind),
            None => self.list_kind.to_string(),
        }
    }
}
