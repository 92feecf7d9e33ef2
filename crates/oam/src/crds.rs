//! The CustomResourceDefinitions of the `core.oam.dev/v1beta1` kinds (Application,
//! ComponentDefinition, TraitDefinition, PolicyDefinition, WorkloadDefinition,
//! ApplicationRevision) with KubeVela's names, short names and printer columns, which the
//! server installs at start.

use serde_json::Value;

const SOURCE: &str = include_str!("../crds/core.oam.dev.yaml");

/// The definitions, as objects to apply.
pub fn definitions() -> Vec<Value> {
    // The file is tested to read (`the_definitions_read`).
    crate::render::documents(SOURCE).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_read() {
        let kinds: Vec<String> = definitions().iter().map(|d| d["spec"]["names"]["kind"].as_str().unwrap_or_default().to_string()).collect();
        assert_eq!(kinds, ["Application", "ComponentDefinition", "TraitDefinition", "PolicyDefinition", "WorkloadDefinition", "ApplicationRevision"]);
    }
}
