//! The audit policy (`audit.k8s.io/v1` Policy): an ordered list of rules,
//! the first that matches a request gives its level (None, Metadata, Request,
//! RequestResponse) and the stages to leave out. Secrets, TokenReviews and
//! TokenRequests are never logged above Metadata, whatever the policy says.

use serde::Deserialize;

use crate::authn::User;
use crate::authz::{Attributes, Target};

/// How much of a request is logged, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Level {
    None,
    Metadata,
    Request,
    RequestResponse,
}

/// A stage of a request's life that produces an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupResources {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    level: Level,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<GroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
    #[serde(default)]
    omit_stages: Vec<Stage>,
}

/// A parsed audit policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(default)]
    rules: Vec<Rule>,
    #[serde(default)]
    omit_stages: Vec<Stage>,
}

/// What is wrong with a policy file.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("failed to read the audit policy {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the audit policy {path} is not a valid audit.k8s.io/v1 Policy: {message} (rules need a level of None, Metadata, Request or RequestResponse)")]
    Parse { path: String, message: String },
}

/// The level and omitted stages for one request.
pub struct Decision {
    pub level: Level,
    pub omit_stages: Vec<Stage>,
}

impl Policy {
    /// Every request at Metadata level: the policy when none is given.
    pub fn metadata_for_all() -> Policy {
        Policy {
            rules: vec![Rule {
                level: Level::Metadata,
                users: Vec::new(),
                user_groups: Vec::new(),
                verbs: Vec::new(),
                resources: Vec::new(),
                namespaces: Vec::new(),
                non_resource_urls: Vec::new(),
                omit_stages: Vec::new(),
            }],
            omit_stages: Vec::new(),
        }
    }

    pub fn load(path: &std::path::Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Policy::parse(&text).map_err(|message| PolicyError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Policy, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    /// Whether some rule logs request bodies (so the server must keep them).
    pub fn logs_bodies(&self) -> bool {
        self.rules.iter().any(|r| r.level >= Level::Request)
    }

    /// The level for a request; `user` is `None` when it was not authenticated.
    pub fn decide(&self, user: Option<&User>, attributes: &Attributes) -> Decision {
        let rule = self.rules.iter().find(|r| r.matches(user, attributes));
        let mut level = rule.map_or(Level::None, |r| r.level);
        if let Target::Resource {
            group,
            resource,
            subresource,
            ..
        } = &attributes.target
        {
            let sensitive = matches!(
                (group.as_str(), resource.as_str(), subresource.as_deref()),
                ("", "secrets", _)
                    | ("authentication.k8s.io", "tokenreviews", _)
                    | ("", "serviceaccounts", Some("token"))
            );
            if sensitive {
                level = level.min(Level::Metadata);
            }
        }
        let mut omit_stages = self.omit_stages.clone();
        omit_stages.extend(rule.into_iter().flat_map(|r| r.omit_stages.iter().copied()));
        Decision { level, omit_stages }
    }
}

fn listed(list: &[String], value: &str) -> bool {
    list.is_empty() || list.iter().any(|v| v == value)
}

impl Rule {
    fn matches(&self, user: Option<&User>, attributes: &Attributes) -> bool {
        let name = user.map(|u| u.name.as_str()).unwrap_or_default();
        if !listed(&self.users, name) {
            return false;
        }
        if !self.user_groups.is_empty()
            && !user.is_some_and(|u| u.groups.iter().any(|g| self.user_groups.contains(g)))
        {
            return false;
        }
        if !listed(&self.verbs, &attributes.verb) {
            return false;
        }
        match &attributes.target {
            Target::Resource {
                group,
                resource,
                subresource,
                namespace,
                name,
            } => {
                if !self.non_resource_urls.is_empty() {
                    return false;
                }
                if !listed(&self.namespaces, namespace.as_deref().unwrap_or_default()) {
                    return false;
                }
                let full = match subresource {
                    Some(sub) => format!("{resource}/{sub}"),
                    None => resource.clone(),
                };
                self.resources.is_empty()
                    || self.resources.iter().any(|g| {
                        (g.group == *group || g.group == "*")
                            && (g.resources.is_empty()
                                || g.resources.iter().any(|r| {
                                    r == &full
                                        || r == "*"
                                        || (subresource.is_none() && r == resource)
                                        || r.strip_prefix("*/").is_some_and(|s| Some(s) == subresource.as_deref())
                                        || r.strip_suffix("/*").is_some_and(|p| p == resource && subresource.is_some())
                                }))
                            && (g.resource_names.is_empty()
                                || name.as_ref().is_some_and(|n| g.resource_names.contains(n)))
                    })
            }
            Target::NonResource { path } => {
                if !self.resources.is_empty() || !self.namespaces.is_empty() {
                    return false;
                }
                self.non_resource_urls.is_empty()
                    || self.non_resource_urls.iter().any(|u| {
                        u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    fn request(user: &str, method: Method, path: &str) -> (User, Attributes) {
        let user = User::new(user, vec!["devs".into()]);
        let attributes = Attributes::of_request(user.clone(), &method, path, None);
        (user, attributes)
    }

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/version"]
- level: RequestResponse
  users: ["alice"]
  resources: [{group: "", resources: ["configmaps", "secrets"]}]
- level: Request
  userGroups: ["devs"]
  verbs: ["create", "update"]
  namespaces: ["team"]
- level: Metadata
"#;

    #[test]
    fn the_first_matching_rule_decides() {
        let policy = Policy::parse(POLICY).unwrap();
        let level = |user: &str, method: Method, path: &str| {
            let (user, attributes) = request(user, method, path);
            policy.decide(Some(&user), &attributes).level
        };
        assert_eq!(level("bob", Method::GET, "/healthz/ready"), Level::None);
        assert_eq!(level("alice", Method::GET, "/api/v1/namespaces/team/configmaps"), Level::RequestResponse);
        assert_eq!(level("bob", Method::POST, "/api/v1/namespaces/team/pods"), Level::Request);
        assert_eq!(level("bob", Method::POST, "/api/v1/namespaces/other/pods"), Level::Metadata);
        assert!(policy.logs_bodies());
    }

    #[test]
    fn secrets_are_never_logged_above_metadata() {
        let policy = Policy::parse(POLICY).unwrap();
        let (user, attributes) = request("alice", Method::GET, "/api/v1/namespaces/team/secrets/s");
        assert_eq!(policy.decide(Some(&user), &attributes).level, Level::Metadata);
    }

    #[test]
    fn a_bad_level_is_a_parse_error() {
        assert!(Policy::parse("rules:\n- level: Everything\n").is_err());
    }
}
