//! The built-in resource types (from `tug-api`'s registry) as kube-rs reaches them, for
//! the controllers that work across kinds (garbage collector, namespaces, quotas).

use kube::api::ApiResource;
use tug_api::registry::{self, ResourceType};

/// How kube-rs reaches a registered resource type.
pub fn api_resource(rt: &ResourceType) -> ApiResource {
    ApiResource {
        group: rt.group.into(),
        version: rt.version.into(),
        api_version: rt.api_version(),
        kind: rt.kind.into(),
        plural: rt.plural.into(),
    }
}

/// Every stored type once (its storage version): what objects can exist.
pub fn stored() -> impl Iterator<Item = &'static ResourceType> {
    registry::all().iter().filter(|t| t.storage_version && !t.create_only)
}

/// The stored type an ownerReference's `apiVersion` and `kind` name.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    registry::by_kind(api_version, kind).map(|rt| rt.storage())
}
