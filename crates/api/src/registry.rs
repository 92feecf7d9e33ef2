//! The table of served resource types. Each entry is built from a `k8s-openapi` type, so
//! group, version, kind, plural and scope are exactly the real API's; the table adds what
//! those types do not carry (short names, categories, subresources).

use k8s_openapi::api::{apps, authentication, authorization, autoscaling, batch, coordination, core, discovery, events, networking, rbac, scheduling, storage};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::{ClusterResourceScope, ListableResource, NamespaceResourceScope, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::decode::{self, Decoder};

/// A subresource served under `/<plural>/<name>/<subresource>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Status,
    Scale,
    Binding,
    Eviction,
    Log,
    Exec,
    Attach,
    PortForward,
    Token,
}

impl Subresource {
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Eviction => "eviction",
            Subresource::Log => "log",
            Subresource::Exec => "exec",
            Subresource::Attach => "attach",
            Subresource::PortForward => "portforward",
            Subresource::Token => "token",
        }
    }
}

/// One served resource type (one group/version/kind).
#[derive(Debug, Clone, Copy)]
pub struct ResourceType {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub list_kind: &'static str,
    /// The URL path segment, e.g. "deployments".
    pub plural: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Of several versions of one group/kind, the one objects are stored in.
    pub storage_version: bool,
    /// The group whose storage version holds this kind's objects: its own, but
    /// "" for events.k8s.io Events (stored as core/v1 Events).
    pub storage_group: &'static str,
    /// A request kind that is only ever created and answered, never stored
    /// (TokenReview, SubjectAccessReview, …): its one verb is `create`.
    pub create_only: bool,
    /// Checks an object against the real type and returns it as the type writes it.
    pub decode: Decoder,
    /// A custom resource served from a CustomResourceDefinition ([`crate::crd`]): its
    /// schema, columns and scale paths live with the definition, not in this table.
    pub custom: bool,
    /// Read from the nodes' agents when asked (`metrics.k8s.io`), never stored: its
    /// verbs are `get` and `list`. Such types are in [`node_metrics`], not in [`all`].
    pub from_nodes: bool,
}

/// Two entries are the same type when they serve the same group/version/kind.
impl PartialEq for ResourceType {
    fn eq(&self, other: &ResourceType) -> bool {
        (self.group, self.version, self.kind) == (other.group, other.version, other.kind)
    }
}
impl Eq for ResourceType {}

/// Whether a `k8s-openapi` scope type is namespaced.
trait Scope {
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

const fn entry<T>(short_names: &'static [&'static str], categories: &'static [&'static str], subresources: &'static [Subresource]) -> ResourceType
where
    T: Resource + ListableResource + Serialize + DeserializeOwned,
    T::Scope: Scope,
{
    ResourceType {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        list_kind: T::LIST_KIND,
        plural: T::URL_PATH_SEGMENT,
        namespaced: <T::Scope as Scope>::NAMESPACED,
        short_names,
        categories,
        subresources,
        storage_version: true,
        storage_group: T::GROUP,
        create_only: false,
        decode: decode::roundtrip::<T>,
        custom: false,
        from_nodes: false,
    }
}

/// A create-only request kind (a review): it has no list kind and is never stored.
const fn review<T>() -> ResourceType
where
    T: Resource + Serialize + DeserializeOwned,
    T::Scope: Scope,
{
    ResourceType {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        list_kind: "",
        plural: T::URL_PATH_SEGMENT,
        namespaced: <T::Scope as Scope>::NAMESPACED,
        short_names: NONE,
        categories: NONE,
        subresources: NO_SUB,
        storage_version: true,
        storage_group: T::GROUP,
        create_only: true,
        decode: decode::roundtrip::<T>,
        custom: false,
        from_nodes: false,
    }
}

const fn non_storage(mut rt: ResourceType) -> ResourceType {
    rt.storage_version = false;
    rt
}

/// A type whose objects are stored as the storage version of `group`'s same kind.
const fn stored_in(group: &'static str, mut rt: ResourceType) -> ResourceType {
    rt.storage_version = false;
    rt.storage_group = group;
    rt
}

use Subresource::*;

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
pub(crate) const NO_SUB: &[Subresource] = &[];
pub(crate) const STATUS: &[Subresource] = &[Status];
pub(crate) const STATUS_SCALE: &[Subresource] = &[Status, Scale];
pub(crate) const SCALE: &[Subresource] = &[Scale];

static TYPES: &[ResourceType] = &[
    // core/v1
    entry::<core::v1::Namespace>(&["ns"], NONE, STATUS),
    entry::<core::v1::Pod>(&["po"], ALL, &[Status, Binding, Eviction, Log, Exec, Attach, PortForward]),
    entry::<core::v1::Service>(&["svc"], ALL, STATUS),
    entry::<core::v1::Endpoints>(&["ep"], NONE, NO_SUB),
    entry::<core::v1::ConfigMap>(&["cm"], NONE, NO_SUB),
    entry::<core::v1::Secret>(NONE, NONE, NO_SUB),
    entry::<core::v1::ServiceAccount>(&["sa"], NONE, &[Token]),
    entry::<core::v1::Node>(&["no"], NONE, STATUS),
    entry::<core::v1::PersistentVolume>(&["pv"], NONE, STATUS),
    entry::<core::v1::PersistentVolumeClaim>(&["pvc"], NONE, STATUS),
    entry::<core::v1::Event>(&["ev"], NONE, NO_SUB),
    entry::<core::v1::LimitRange>(&["limits"], NONE, NO_SUB),
    entry::<core::v1::ResourceQuota>(&["quota"], NONE, STATUS),
    entry::<core::v1::ReplicationController>(&["rc"], ALL, STATUS_SCALE),
    // apps/v1
    entry::<apps::v1::Deployment>(&["deploy"], ALL, STATUS_SCALE),
    entry::<apps::v1::ReplicaSet>(&["rs"], ALL, STATUS_SCALE),
    entry::<apps::v1::StatefulSet>(&["sts"], ALL, STATUS_SCALE),
    entry::<apps::v1::DaemonSet>(&["ds"], ALL, STATUS),
    entry::<apps::v1::ControllerRevision>(NONE, NONE, NO_SUB),
    // autoscaling: v2 is stored, v1 is served too
    entry::<autoscaling::v2::HorizontalPodAutoscaler>(&["hpa"], ALL, STATUS),
    non_storage(entry::<autoscaling::v1::HorizontalPodAutoscaler>(&["hpa"], ALL, STATUS)),
    // batch/v1
    entry::<batch::v1::Job>(NONE, ALL, STATUS),
    entry::<batch::v1::CronJob>(&["cj"], ALL, STATUS),
    // networking.k8s.io/v1
    entry::<networking::v1::Ingress>(&["ing"], NONE, STATUS),
    entry::<networking::v1::IngressClass>(NONE, NONE, NO_SUB),
    entry::<networking::v1::NetworkPolicy>(&["netpol"], NONE, NO_SUB),
    // rbac.authorization.k8s.io/v1
    entry::<rbac::v1::Role>(NONE, NONE, NO_SUB),
    entry::<rbac::v1::ClusterRole>(NONE, NONE, NO_SUB),
    entry::<rbac::v1::RoleBinding>(NONE, NONE, NO_SUB),
    entry::<rbac::v1::ClusterRoleBinding>(NONE, NONE, NO_SUB),
    // authentication.k8s.io/v1 and authorization.k8s.io/v1: reviews, answered and not stored
    review::<authentication::v1::TokenReview>(),
    review::<authentication::v1::SelfSubjectReview>(),
    review::<authorization::v1::SubjectAccessReview>(),
    review::<authorization::v1::SelfSubjectAccessReview>(),
    review::<authorization::v1::LocalSubjectAccessReview>(),
    review::<authorization::v1::SelfSubjectRulesReview>(),
    // coordination.k8s.io/v1
    entry::<coordination::v1::Lease>(NONE, NONE, NO_SUB),
    // discovery.k8s.io/v1
    entry::<discovery::v1::EndpointSlice>(NONE, NONE, NO_SUB),
    // events.k8s.io/v1 (the same objects as core/v1 Events)
    stored_in("", entry::<events::v1::Event>(&["ev"], NONE, NO_SUB)),
    // storage.k8s.io/v1
    entry::<storage::v1::StorageClass>(&["sc"], NONE, NO_SUB),
    entry::<scheduling::v1::PriorityClass>(&["pc"], NONE, NO_SUB),
    // apiextensions.k8s.io/v1
    entry::<apiextensions::v1::CustomResourceDefinition>(&["crd", "crds"], NONE, STATUS),
];

/// The resource metrics API (metrics-server's `metrics.k8s.io/v1beta1`): usage read from
/// the agents at each request. `k8s-openapi` has no types for it, so the rows are written out.
static NODE_METRICS: &[ResourceType] = &[metrics("NodeMetrics", "nodes", false), metrics("PodMetrics", "pods", true)];

const fn metrics(kind: &'static str, plural: &'static str, namespaced: bool) -> ResourceType {
    ResourceType {
        group: "metrics.k8s.io",
        version: "v1beta1",
        kind,
        list_kind: if namespaced { "PodMetricsList" } else { "NodeMetricsList" },
        plural,
        namespaced,
        short_names: NONE,
        categories: NONE,
        subresources: NO_SUB,
        storage_version: true,
        storage_group: "metrics.k8s.io",
        create_only: false,
        decode: read_only,
        custom: false,
        from_nodes: true,
    }
}

/// The decoder of types that are never written.
fn read_only(_: &serde_json::Value) -> Result<decode::Decoded, decode::DecodeError> {
    Err(decode::DecodeError { path: ".".into(), message: "resource metrics are read-only".into() })
}

/// Every stored or answered resource type, core group first, in a stable order (not the
/// [`node_metrics`] types).
pub fn all() -> &'static [ResourceType] {
    TYPES
}

/// The `metrics.k8s.io` types, read from the nodes.
pub fn node_metrics() -> &'static [ResourceType] {
    NODE_METRICS
}

/// The type served at `/apis/<group>/<version>/<plural>` (or `/api/v1/<plural>`).
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    TYPES.iter().chain(NODE_METRICS).find(|t| t.group == group && t.version == version && t.plural == plural)
}

/// The type of an object by its `apiVersion` and `kind`.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    TYPES.iter().find(|t| t.group == group && t.version == version && t.kind == kind)
}

/// The groups of [`all`], each with its versions (preferred first), in discovery order
/// (the OpenAPI documents' groups; discovery adds [`node_metrics`]'s).
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for t in TYPES {
        match groups.iter_mut().find(|(g, _)| *g == t.group) {
            Some((_, versions)) if !versions.contains(&t.version) => versions.push(t.version),
            Some(_) => {}
            None => groups.push((t.group, vec![t.version])),
        }
    }
    groups
}

impl ResourceType {
    /// "apps/v1", or "v1" for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The lower-case singular name, as discovery reports it.
    pub fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    /// The version this type's objects are stored in (itself if it is the storage version).
    pub fn storage(&'static self) -> &'static ResourceType {
        if self.storage_version {
            return self;
        }
        TYPES
            .iter()
            .find(|t| t.storage_version && t.group == self.storage_group && t.kind == self.kind)
            .unwrap_or(self)
    }

    pub fn has(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }

    /// The verbs discovery lists for the resource: all of them, or only `create` for reviews.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.create_only {
            &["create"]
        } else if self.from_nodes {
            &["get", "list"]
        } else {
            &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        }
    }

    /// The store key of an object (DESIGN.md: `/registry/<group>/<resource>/<namespace>/<name>`;
    /// the core group is "core", cluster-scoped objects have no namespace segment). Every
    /// version of a group/resource shares its keys.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{}", self.prefix(namespace), name)
    }

    /// The key prefix of every object of this type (in `namespace`, if given and namespaced).
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        let group = if self.storage_group.is_empty() { "core" } else { self.storage_group };
        match namespace.filter(|_| self.namespaced) {
            Some(ns) => format!("/registry/{group}/{}/{ns}/", self.plural),
            None => format!("/registry/{group}/{}/", self.plural),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_from_the_real_types() {
        let d = find("apps", "v1", "deployments").unwrap();
        assert_eq!((d.kind, d.list_kind, d.namespaced), ("Deployment", "DeploymentList", true));
        assert!(d.has(Subresource::Scale));
        let ns = find("", "v1", "namespaces").unwrap();
        assert!(!ns.namespaced);
        assert_eq!(by_kind("networking.k8s.io/v1", "Ingress").unwrap().plural, "ingresses");
        assert_eq!(by_kind("v1", "Endpoints").unwrap().plural, "endpoints");
    }

    #[test]
    fn keys_follow_the_store_layout() {
        let pod = by_kind("v1", "Pod").unwrap();
        assert_eq!(pod.key(Some("default"), "web"), "/registry/core/pods/default/web");
        let node = by_kind("v1", "Node").unwrap();
        assert_eq!(node.key(Some("ignored"), "n1"), "/registry/core/nodes/n1");
        let v1 = by_kind("autoscaling/v1", "HorizontalPodAutoscaler").unwrap();
        let v2 = by_kind("autoscaling/v2", "HorizontalPodAutoscaler").unwrap();
        assert_eq!(v1.key(Some("a"), "b"), v2.key(Some("a"), "b"));
        assert!(v2.storage_version && !v1.storage_version);
    }

    #[test]
    fn each_group_version_kind_is_served_once() {
        for (i, a) in all().iter().enumerate() {
            for b in &all()[i + 1..] {
                assert!(!(a.group == b.group && a.version == b.version && a.kind == b.kind), "{} twice", a.kind);
            }
        }
        let groups = groups();
        assert_eq!(groups[0], ("", vec!["v1"]));
        assert!(groups.iter().any(|(g, v)| *g == "autoscaling" && v == &vec!["v2", "v1"]));
    }
}
