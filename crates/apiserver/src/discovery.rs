//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`,
//! `/apis/<group>`, `/apis/<group>/<version>`, from the registry and the custom kinds
//! served now.

use serde_json::{json, Value};
use tug_api::{registry, ResourceType, Subresource};

use crate::crds::CustomKinds;

/// The built-in groups, the resource and custom metrics groups, then the custom ones.
pub(crate) fn all_groups(kinds: &CustomKinds) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups = registry::groups();
    for t in registry::node_metrics() {
        if !groups.iter().any(|(g, _)| *g == t.group) {
            groups.push((t.group, vec![t.version]));
        }
    }
    groups.push((crate::request::CUSTOM_METRICS.0, vec![crate::request::CUSTOM_METRICS.1]));
    groups.extend(kinds.groups());
    groups
}

/// The Kubernetes version the server reports: the one its `k8s-openapi` types come from.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "tugboat",
        "gitTreeState": "clean", "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64",
    })
}

pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
}

fn group_json(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": versions, "preferredVersion": versions[0]})
}

pub fn groups(kinds: &CustomKinds) -> Value {
    let groups: Vec<Value> = all_groups(kinds)
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, v)| group_json(g, &v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(kinds: &CustomKinds, name: &str) -> Option<Value> {
    let (group, versions) = all_groups(kinds)
        .into_iter()
        .find(|(g, _)| *g == name && !g.is_empty())?;
    let mut doc = group_json(group, &versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

pub fn resources(kinds: &CustomKinds, group: &str, version: &str) -> Value {
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut list = Vec::new();
    for rt in registry::all()
        .iter()
        .chain(registry::node_metrics())
        .chain(kinds.all())
        .filter(|t| t.group == group && t.version == version)
    {
        list.push(resource(rt));
        for sub in rt.subresources {
            list.push(subresource(rt, *sub));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list})
}

fn resource(rt: &ResourceType) -> Value {
    let mut r = json!({
        "name": rt.plural, "singularName": rt.singular(), "namespaced": rt.namespaced,
        "kind": rt.kind, "verbs": rt.verbs(),
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    r["storageVersionHash"] = json!(storage_version_hash(rt));
    r
}

fn subresource(rt: &ResourceType, sub: Subresource) -> Value {
    let (kind, verbs, group, version): (&str, &[&str], Option<&str>, Option<&str>) = match sub {
        Subresource::Status => (rt.kind, &["get", "patch", "update"], None, None),
        Subresource::Scale => (
            "Scale",
            &["get", "patch", "update"],
            Some("autoscaling"),
            Some("v1"),
        ),
        Subresource::Binding => ("Binding", &["create"], None, None),
        Subresource::Eviction => ("Eviction", &["create"], Some("policy"), Some("v1")),
        Subresource::Log => ("Pod", &["get"], None, None),
        Subresource::Exec | Subresource::Attach | Subresource::PortForward => {
            ("PodExecOptions", &["create", "get"], None, None)
        }
        Subresource::Token => (
            "TokenRequest",
            &["create"],
            Some("authentication.k8s.io"),
            Some("v1"),
        ),
    };
    let mut r = json!({"name": format!("{}/{}", rt.plural, sub.name()), "singularName": "", "namespaced": rt.namespaced, "kind": kind, "verbs": verbs});
    if let Some(g) = group {
        r["group"] = json!(g);
    }
    if let Some(v) = version {
        r["version"] = json!(v);
    }
    r
}

/// A stable short hash of the stored group/resource, as clients use to notice storage changes.
fn storage_version_hash(rt: &ResourceType) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in format!("{}/{}/{}", rt.group, rt.version, rt.kind).bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(&h.to_be_bytes()[..8])[..11].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lists_carry_subresources_and_short_names() {
        let apps = resources(&CustomKinds::default(), "apps", "v1");
        let list = apps["resources"].as_array().unwrap();
        let deploy = list.iter().find(|r| r["name"] == "deployments").unwrap();
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(deploy["categories"], json!(["all"]));
        let scale = list
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(
            (scale["kind"].as_str(), scale["group"].as_str()),
            (Some("Scale"), Some("autoscaling"))
        );
    }

    #[test]
    fn groups_list_preferred_versions() {
        let g = groups(&CustomKinds::default());
        let autoscaling = g["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "autoscaling")
            .unwrap();
        assert_eq!(autoscaling["preferredVersion"]["version"], "v2");
        assert!(group(&CustomKinds::default(), "apps").is_some() && group(&CustomKinds::default(), "nope").is_none());
    }
}
