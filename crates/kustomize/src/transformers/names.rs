//! `namePrefix` / `nameSuffix`.

use crate::resource::Resource;

/// Kinds whose names kustomize never prefixes or suffixes.
fn skipped(res: &Resource) -> bool {
    matches!(res.kind(), "CustomResourceDefinition" | "Namespace")
        || (res.kind() == "APIService" && res.group() == "apiregistration.k8s.io")
}

/// Renames every resource to `prefix + name + suffix`.
pub fn add_prefix_suffix(resources: &mut [Resource], prefix: &str, suffix: &str) {
    if prefix.is_empty() && suffix.is_empty() {
        return;
    }
    for res in resources.iter_mut().filter(|r| !skipped(r)) {
        let name = format!("{prefix}{}{suffix}", res.name());
        res.set_name(&name);
    }
}
