//! RBAC policy rules and how they match a request: verbs, API groups,
//! resources (with `pods/log`-style subresources, `*` and `*/status`),
//! resource names, and non-resource URLs (with a trailing `*`).

use serde::{Deserialize, Serialize};

use super::{Attributes, Target};

/// One rule of a Role or ClusterRole, as `rbac.authorization.k8s.io/v1` spells it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(
        rename = "nonResourceURLs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

fn has(list: &[String], wanted: &str) -> bool {
    list.iter().any(|item| item == "*" || item == wanted)
}

impl PolicyRule {
    /// A rule on resources.
    pub fn resources(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: owned(verbs),
            api_groups: owned(groups),
            resources: owned(resources),
            ..PolicyRule::default()
        }
    }

    /// A rule on non-resource URLs.
    pub fn urls(verbs: &[&str], urls: &[&str]) -> PolicyRule {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: owned(verbs),
            non_resource_urls: owned(urls),
            ..PolicyRule::default()
        }
    }

    /// Whether this rule allows what `attributes` ask.
    pub fn allows(&self, attributes: &Attributes) -> bool {
        if !has(&self.verbs, &attributes.verb) {
            return false;
        }
        match &attributes.target {
            Target::Resource {
                group,
                resource,
                subresource,
                name,
                ..
            } => {
                has(&self.api_groups, group)
                    && self.resources.iter().any(|r| {
                        resource_matches(r, resource, subresource.as_deref())
                    })
                    && (self.resource_names.is_empty()
                        || name
                            .as_ref()
                            .is_some_and(|n| self.resource_names.contains(n)))
            }
            Target::NonResource { path } => self.non_resource_urls.iter().any(|u| {
                u == "*"
                    || u == path
                    || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
            }),
        }
    }

    /// The rule as Kubernetes prints it in escalation errors:
    /// `{APIGroups:["apps"], Resources:["deployments"], Verbs:["create"]}`.
    pub fn compact(&self) -> String {
        let list = |l: &[String]| {
            let quoted: Vec<String> = l.iter().map(|s| format!("{s:?}")).collect();
            format!("[{}]", quoted.join(" "))
        };
        let mut parts = Vec::new();
        if !self.api_groups.is_empty() {
            parts.push(format!("APIGroups:{}", list(&self.api_groups)));
        }
        if !self.resources.is_empty() {
            parts.push(format!("Resources:{}", list(&self.resources)));
        }
        if !self.non_resource_urls.is_empty() {
            parts.push(format!("NonResourceURLs:{}", list(&self.non_resource_urls)));
        }
        if !self.resource_names.is_empty() {
            parts.push(format!("ResourceNames:{}", list(&self.resource_names)));
        }
        parts.push(format!("Verbs:{}", list(&self.verbs)));
        format!("{{{}}}", parts.join(", "))
    }

    /// The rule cut into single-verb, single-resource (and single-name) rules, as
    /// escalation checks compare them.
    pub fn atoms(&self) -> Vec<PolicyRule> {
        let one = |s: &String| vec![s.clone()];
        let mut atoms = Vec::new();
        for verb in &self.verbs {
            for url in &self.non_resource_urls {
                atoms.push(PolicyRule {
                    verbs: one(verb),
                    non_resource_urls: one(url),
                    ..PolicyRule::default()
                });
            }
            for group in &self.api_groups {
                for resource in &self.resources {
                    let names: Vec<Vec<String>> = if self.resource_names.is_empty() {
                        vec![Vec::new()]
                    } else {
                        self.resource_names.iter().map(one).collect()
                    };
                    for resource_names in names {
                        atoms.push(PolicyRule {
                            verbs: one(verb),
                            api_groups: one(group),
                            resources: one(resource),
                            resource_names,
                            ..PolicyRule::default()
                        });
                    }
                }
            }
        }
        atoms
    }

    /// Whether this rule grants all of `atom` (a rule from [`PolicyRule::atoms`]); a `*`
    /// in the atom is only covered by a `*` here.
    pub fn covers(&self, atom: &PolicyRule) -> bool {
        let (Some(verb), true) = (atom.verbs.first(), atom.verbs.len() == 1) else {
            return false;
        };
        if !has(&self.verbs, verb) {
            return false;
        }
        if let Some(url) = atom.non_resource_urls.first() {
            return self.non_resource_urls.iter().any(|u| {
                u == "*"
                    || u == url
                    || u.strip_suffix('*').is_some_and(|p| url.starts_with(p))
            });
        }
        let (Some(group), Some(resource)) = (atom.api_groups.first(), atom.resources.first())
        else {
            return false;
        };
        let (resource, subresource) = match resource.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (resource.as_str(), None),
        };
        has(&self.api_groups, group)
            && self
                .resources
                .iter()
                .any(|r| resource_matches(r, resource, subresource))
            && (self.resource_names.is_empty()
                || atom
                    .resource_names
                    .first()
                    .is_some_and(|n| self.resource_names.contains(n)))
    }
}

/// Whether a rule's resource entry (`pods`, `pods/log`, `pods/*`, `*/scale`, `*`) names a
/// request's resource and subresource.
fn resource_matches(rule: &str, resource: &str, subresource: Option<&str>) -> bool {
    if rule == "*" {
        return true;
    }
    match subresource {
        None => rule == resource,
        Some(sub) => match rule.split_once('/') {
            Some((r, s)) => (r == resource || r == "*") && (s == sub || s == "*"),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::User;

    fn request(verb: &str, group: &str, resource: &str, sub: Option<&str>, name: Option<&str>) -> Attributes {
        Attributes {
            user: User::anonymous(),
            verb: verb.into(),
            target: Target::Resource {
                group: group.into(),
                resource: resource.into(),
                subresource: sub.map(str::to_string),
                namespace: Some("default".into()),
                name: name.map(str::to_string),
            },
        }
    }

    #[test]
    fn subresources_need_their_own_entry() {
        let rule = PolicyRule::resources(&["get"], &[""], &["pods"]);
        assert!(rule.allows(&request("get", "", "pods", None, Some("a"))));
        assert!(!rule.allows(&request("get", "", "pods", Some("log"), Some("a"))));
        let logs = PolicyRule::resources(&["get"], &[""], &["pods/log"]);
        assert!(logs.allows(&request("get", "", "pods", Some("log"), Some("a"))));
        assert!(!logs.allows(&request("get", "", "pods", None, Some("a"))));
        let any_scale = PolicyRule::resources(&["get"], &["*"], &["*/scale"]);
        assert!(any_scale.allows(&request("get", "apps", "deployments", Some("scale"), None)));
    }

    #[test]
    fn resource_names_limit_named_requests_only() {
        let mut rule = PolicyRule::resources(&["get", "list"], &[""], &["configmaps"]);
        rule.resource_names = vec!["one".into()];
        assert!(rule.allows(&request("get", "", "configmaps", None, Some("one"))));
        assert!(!rule.allows(&request("get", "", "configmaps", None, Some("two"))));
        assert!(!rule.allows(&request("list", "", "configmaps", None, None)));
    }

    #[test]
    fn urls_match_exactly_or_by_trailing_star() {
        let rule = PolicyRule::urls(&["get"], &["/api", "/apis/*"]);
        let path = |p: &str| Attributes {
            user: User::anonymous(),
            verb: "get".into(),
            target: Target::NonResource { path: p.into() },
        };
        assert!(rule.allows(&path("/api")));
        assert!(!rule.allows(&path("/api/v1")));
        assert!(rule.allows(&path("/apis/apps/v1")));
    }

    #[test]
    fn a_star_is_only_covered_by_a_star() {
        let owner = PolicyRule::resources(&["get", "list"], &[""], &["pods", "pods/log"]);
        let wanted = PolicyRule::resources(&["get"], &[""], &["pods", "pods/log"]);
        assert!(wanted.atoms().iter().all(|a| owner.covers(a)));
        let star = PolicyRule::resources(&["*"], &[""], &["pods"]);
        assert!(!star.atoms().iter().all(|a| owner.covers(a)));
        let admin = PolicyRule::resources(&["*"], &["*"], &["*"]);
        assert!(star.atoms().iter().all(|a| admin.covers(a)));
    }
}
