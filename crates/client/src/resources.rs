//! Resource types: resolving what a user types (`deploy`, `pods`, `Service`,
//! `deployments.apps`, `hpa.v2.autoscaling`) and what a manifest says (`apiVersion` +
//! `kind`) into a group/version/plural, from the built-in registry first and from the
//! server's discovery for anything else (custom resources).

use serde_json::Value;

use crate::client::Conn;
use crate::error::{Error, Result};

/// One resource type as the client needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub verbs: Vec<String>,
    pub categories: Vec<String>,
}

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `pods`: how kubectl names the type in messages.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `deployment.apps`, `pod`: the prefix of `-o name` and of apply's messages.
    pub fn kind_group(&self) -> String {
        let k = self.kind.to_ascii_lowercase();
        if self.group.is_empty() {
            k
        } else {
            format!("{k}.{}", self.group)
        }
    }

    fn from_registry(t: &tug_api::ResourceType) -> ResourceInfo {
        let verbs: Vec<String> = t.verbs().iter().map(|s| s.to_string()).collect();
        ResourceInfo {
            group: t.group.to_string(),
            version: t.version.to_string(),
            kind: t.kind.to_string(),
            plural: t.plural.to_string(),
            singular: t.singular(),
            namespaced: t.namespaced,
            short_names: t.short_names.iter().map(|s| s.to_string()).collect(),
            verbs,
            categories: t.categories.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn matches_name(&self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        self.plural == n
            || self.singular == n
            || self.kind.to_ascii_lowercase() == n
            || self.short_names.contains(&n)
    }
}

/// Resolves types, with discovery loaded on first need.
pub struct Resolver {
    conn: Conn,
    discovered: Option<Vec<ResourceInfo>>,
}

impl Resolver {
    pub fn new(conn: Conn) -> Resolver {
        Resolver {
            conn,
            discovered: None,
        }
    }

    /// The registry's types, in its order (preferred versions first).
    fn builtin() -> Vec<ResourceInfo> {
        tug_api::registry::all()
            .iter()
            .map(ResourceInfo::from_registry)
            .collect()
    }

    /// Every served type from discovery (`/api/v1`, `/apis`, `/apis/<g>/<v>`), preferred
    /// versions first within each group.
    pub async fn discover(&mut self) -> Result<&[ResourceInfo]> {
        if self.discovered.is_none() {
            let mut all = Vec::new();
            let core = self.conn.get_path("/api").await?;
            for v in strings(&core["versions"]) {
                let list = self.conn.get_path(&format!("/api/{v}")).await?;
                all.extend(parse_resource_list("", &v, &list));
            }
            let groups = self.conn.get_path("/apis").await?;
            for g in groups["groups"].as_array().into_iter().flatten() {
                let name = g["name"].as_str().unwrap_or("").to_string();
                let preferred = g["preferredVersion"]["version"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let mut versions: Vec<String> = g["versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["version"].as_str().map(String::from))
                    .collect();
                versions.sort_by_key(|v| *v != preferred);
                for v in versions {
                    match self.conn.get_path(&format!("/apis/{name}/{v}")).await {
                        Ok(list) => all.extend(parse_resource_list(&name, &v, &list)),
                        Err(e) if e.code().is_some() => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
            self.discovered = Some(all);
        }
        Ok(self.discovered.as_deref().unwrap_or(&[]))
    }

    /// The type a user typed: `TYPE`, `TYPE.group` or `TYPE.version.group`.
    pub async fn resolve(&mut self, arg: &str) -> Result<ResourceInfo> {
        if let Some(r) = pick(&Self::builtin(), arg) {
            return Ok(r);
        }
        if let Some(r) = pick(self.discover().await?, arg) {
            return Ok(r);
        }
        Err(Error::client(format!(
            "the server doesn't have a resource type \"{arg}\""
        )))
    }

    /// The type of a manifest's object.
    pub async fn for_object(&mut self, obj: &Value) -> Result<ResourceInfo> {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        if api_version.is_empty() || kind.is_empty() {
            return Err(Error::client("object is missing apiVersion or kind"));
        }
        if let Some(t) = tug_api::registry::by_kind(api_version, kind) {
            return Ok(ResourceInfo::from_registry(t));
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let found = self
            .discover()
            .await?
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned();
        found.ok_or_else(|| {
            Error::client(format!("resource mapping not found for name: \"{}\" namespace: \"{}\" from \"\": no matches for kind \"{kind}\" in version \"{api_version}\"\nensure CRDs are installed first",
                obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""),
                obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("")))
        })
    }
}

/// Chooses the type `arg` names among `types` (which are in preference order).
fn pick(types: &[ResourceInfo], arg: &str) -> Option<ResourceInfo> {
    let lower = arg.to_ascii_lowercase();
    // Plain name first: "deployments", "deploy", "Deployment".
    if let Some(r) = types.iter().find(|r| r.plural == lower) {
        return Some(r.clone());
    }
    if let Some(r) = types.iter().find(|r| r.matches_name(&lower)) {
        return Some(r.clone());
    }
    // "name.group" or "name.version.group".
    let (name, rest) = lower.split_once('.')?;
    if let Some(r) = types
        .iter()
        .find(|r| r.group == rest && r.matches_name(name))
    {
        return Some(r.clone());
    }
    let (version, group) = rest.split_once('.').unwrap_or((rest, ""));
    types
        .iter()
        .find(|r| r.group == group && r.version == version && r.matches_name(name))
        .cloned()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

fn parse_resource_list(group: &str, version: &str, list: &Value) -> Vec<ResourceInfo> {
    list["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let name = r["name"].as_str()?;
            if name.contains('/') {
                return None; // subresource
            }
            let kind = r["kind"].as_str().unwrap_or("").to_string();
            let singular = r["singularName"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(String::from)
                .unwrap_or_else(|| kind.to_ascii_lowercase());
            Some(ResourceInfo {
                group: r["group"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or(group)
                    .to_string(),
                version: r["version"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or(version)
                    .to_string(),
                kind,
                plural: name.to_string(),
                singular,
                namespaced: r["namespaced"].as_bool().unwrap_or(false),
                short_names: strings(&r["shortNames"]),
                verbs: strings(&r["verbs"]),
                categories: strings(&r["categories"]),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_short_names_kinds_and_groups() {
        let b = Resolver::builtin();
        for (arg, plural, group) in [
            ("deploy", "deployments", "apps"),
            ("Deployment", "deployments", "apps"),
            ("deployment", "deployments", "apps"),
            ("deployments.apps", "deployments", "apps"),
            ("deployments.v1.apps", "deployments", "apps"),
            ("po", "pods", ""),
            ("svc", "services", ""),
            ("cm", "configmaps", ""),
            ("events", "events", ""),
            ("ev", "events", ""),
            ("events.events.k8s.io", "events", "events.k8s.io"),
            ("hpa", "horizontalpodautoscalers", "autoscaling"),
            ("ing", "ingresses", "networking.k8s.io"),
            ("crd", "customresourcedefinitions", "apiextensions.k8s.io"),
        ] {
            let r = pick(&b, arg).unwrap_or_else(|| panic!("{arg}"));
            assert_eq!(
                (r.plural.as_str(), r.group.as_str()),
                (plural, group),
                "{arg}"
            );
        }
        assert_eq!(pick(&b, "hpa").unwrap().version, "v2");
        assert_eq!(pick(&b, "hpa.v1.autoscaling").unwrap().version, "v1");
        assert!(pick(&b, "nosuchthing").is_none());
        assert!(pick(&b, "deployments.nosuch").is_none());
    }
}
