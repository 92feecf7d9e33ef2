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

/// The namespaced custom kinds served now (each CustomResourceDefinition's storage version),
/// so that what works across kinds reaches custom resources too.
pub async fn custom_namespaced(client: &kube::Client) -> Result<Vec<ApiResource>, kube::Error> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let definitions = kube::Api::<CustomResourceDefinition>::all(client.clone()).list(&Default::default()).await?;
    Ok(definitions
        .items
        .into_iter()
        .filter(|d| d.spec.scope == "Namespaced")
        .filter_map(|d| {
            let version = d.spec.versions.iter().find(|v| v.storage)?;
            Some(ApiResource {
                api_version: format!("{}/{}", d.spec.group, version.name),
                group: d.spec.group.clone(),
                version: version.name.clone(),
                kind: d.spec.names.kind.clone(),
                plural: d.spec.names.plural.clone(),
            })
        })
        .collect())
}
