//! Role-based access control: Roles, ClusterRoles, RoleBindings and
//! ClusterRoleBindings, held in memory (fed by store watches) and indexed by
//! subject, so a decision is a lookup of the user's and groups' bindings and a
//! scan of their roles' rules. ClusterRole aggregation is resolved here too:
//! an aggregated role's rules are the union of the rules of the ClusterRoles
//! its `aggregationRule` selects, and [`Rbac::aggregated_out_of_date`] names
//! the stored roles whose `rules` field must be written to match.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tug_store::{KeyValue, Store};

use super::reflector::{self, Change};
use super::rules::PolicyRule;
use super::{Attributes, Authorizer, BoxFuture, Decision, Target};
use crate::authn::User;
use crate::selectors::LabelSelector;

/// The store prefix of every RBAC object.
pub const PREFIX: &str = "/registry/rbac.authorization.k8s.io/";

/// The role a binding grants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RoleRef {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// Who a binding grants its role to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleObject {
    metadata: Meta,
    #[serde(default)]
    rules: Option<Vec<PolicyRule>>,
    #[serde(default)]
    aggregation_rule: Option<AggregationRule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AggregationRule {
    #[serde(default)]
    cluster_role_selectors: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BindingObject {
    metadata: Meta,
    role_ref: RoleRef,
    #[serde(default)]
    subjects: Option<Vec<Subject>>,
}

struct ClusterRole {
    stored: Vec<PolicyRule>,
    /// The labels, as an object with `metadata.labels` for selectors.
    labels: Value,
    selectors: Option<Vec<LabelSelector>>,
}

/// One binding as the index keeps it.
#[derive(Debug, Clone)]
struct Grant {
    /// `None` for a ClusterRoleBinding: it applies everywhere.
    namespace: Option<String>,
    binding: String,
    role: RoleRef,
}

#[derive(Default)]
struct View {
    /// namespace → name → rules (nested so a lookup borrows instead of allocating).
    roles: HashMap<String, HashMap<String, Arc<[PolicyRule]>>>,
    cluster_roles: HashMap<String, ClusterRole>,
    /// Effective ClusterRole rules, aggregation resolved.
    effective: HashMap<String, Arc<[PolicyRule]>>,
    /// store key → binding, for rebuilding the index.
    bindings: HashMap<String, (Option<String>, BindingObject)>,
    /// "user:<name>" / "group:<name>" → what is granted to it.
    index: HashMap<String, Vec<Grant>>,
}

/// The RBAC authorizer and the role view it decides from.
pub struct Rbac {
    view: RwLock<View>,
    revision: tokio::sync::watch::Sender<i64>,
}

/// What a subject may do in one namespace (or cluster-wide), for SelfSubjectRulesReview
/// and escalation checks.
pub struct RuleSet {
    pub rules: Vec<PolicyRule>,
}

impl Rbac {
    /// Lists the RBAC objects in `store`, then keeps following them.
    pub async fn start(store: Arc<dyn Store>) -> tug_store::Result<Arc<Rbac>> {
        let (kvs, revision) = reflector::list(store.as_ref(), PREFIX).await?;
        let rbac = Arc::new(Rbac {
            view: RwLock::new(View::default()),
            revision: tokio::sync::watch::Sender::new(revision),
        });
        rbac.apply(Change::Replace(kvs), revision);
        let follower = rbac.clone();
        reflector::follow(store, PREFIX.to_string(), revision, move |change, at| {
            follower.apply(change, at)
        });
        Ok(rbac)
    }

    fn apply(&self, change: Change, revision: i64) {
        {
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            match change {
                Change::Replace(kvs) => {
                    *view = View::default();
                    for kv in kvs {
                        view.put(&kv);
                    }
                }
                Change::Put(kv) => view.put(&kv),
                Change::Delete(key) => view.delete(&key),
            }
            view.resolve();
        }
        self.revision.send_replace(revision);
    }

    /// Waits (briefly) until the view has seen the write at `revision`, so a client that
    /// just changed a role or binding is judged by it.
    pub async fn caught_up(&self, revision: i64) {
        let mut seen = self.revision.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(2), seen.wait_for(|r| *r >= revision)).await;
    }

    /// Ticks with the revision each time the view changes.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<i64> {
        self.revision.subscribe()
    }

    /// The rules `user` holds in `namespace` (cluster-wide bindings included), or
    /// cluster-wide only when `namespace` is `None`.
    pub fn rules_for(&self, user: &User, namespace: Option<&str>) -> RuleSet {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let mut rules = Vec::new();
        for (_, grant) in view.grants(user) {
            if grant.namespace.is_some() && grant.namespace.as_deref() != namespace {
                continue;
            }
            if let Some(r) = view.role_rules(grant) {
                rules.extend(r.iter().cloned());
            }
        }
        RuleSet { rules }
    }

    /// Whether the role a binding names exists.
    pub fn role_exists(&self, namespace: Option<&str>, role: &RoleRef) -> bool {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        match role.kind.as_str() {
            "ClusterRole" => view.cluster_roles.contains_key(&role.name),
            "Role" => namespace.is_some_and(|ns| {
                view.roles
                    .get(ns)
                    .is_some_and(|roles| roles.contains_key(&role.name))
            }),
            _ => false,
        }
    }

    /// The rules of the role a binding names (aggregation resolved).
    pub fn role_rules(&self, namespace: Option<&str>, role: &RoleRef) -> Option<Vec<PolicyRule>> {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let grant = Grant {
            namespace: namespace.map(str::to_string),
            binding: String::new(),
            role: role.clone(),
        };
        view.role_rules(&grant).map(|r| r.to_vec())
    }

    /// The aggregated ClusterRoles whose stored `rules` differ from what their selectors
    /// gather: (name, the rules to store).
    pub fn aggregated_out_of_date(&self) -> Vec<(String, Vec<PolicyRule>)> {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        view.cluster_roles
            .iter()
            .filter(|(_, role)| role.selectors.is_some())
            .filter_map(|(name, role)| {
                let effective = view.effective.get(name)?;
                (effective.as_ref() != role.stored.as_slice())
                    .then(|| (name.clone(), effective.to_vec()))
            })
            .collect()
    }

    /// Why RBAC allows `attributes` (worded as Kubernetes' audit annotations), or `None`.
    pub fn allowed_by(&self, attributes: &Attributes) -> Option<String> {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let namespace = match &attributes.target {
            Target::Resource { namespace, .. } => namespace.as_deref(),
            Target::NonResource { .. } => None,
        };
        for (subject, grant) in view.grants(&attributes.user) {
            if grant.namespace.is_some()
                && (grant.namespace.as_deref() != namespace
                    || matches!(attributes.target, Target::NonResource { .. }))
            {
                continue;
            }
            let Some(rules) = view.role_rules(grant) else {
                continue;
            };
            if rules.iter().any(|r| r.allows(attributes)) {
                let (kind, name) = match subject.split_once(':') {
                    Some(("group", g)) => ("Group", g),
                    Some((_, u)) => ("User", u),
                    None => ("User", subject.as_str()),
                };
                let binding = match &grant.namespace {
                    Some(ns) => format!("RoleBinding \"{}/{ns}\"", grant.binding),
                    None => format!("ClusterRoleBinding \"{}\"", grant.binding),
                };
                return Some(format!(
                    "RBAC: allowed by {binding} of {} \"{}\" to {kind} \"{name}\"",
                    grant.role.kind, grant.role.name
                ));
            }
        }
        None
    }
}

impl Authorizer for Rbac {
    fn authorize<'a>(&'a self, attributes: &'a Attributes) -> BoxFuture<'a, Decision> {
        Box::pin(async move { self.decide(attributes).0 })
    }

    fn decide_explained<'a>(&'a self, attributes: &'a Attributes) -> BoxFuture<'a, (Decision, String)> {
        Box::pin(async move { self.decide(attributes) })
    }
}

impl Rbac {
    fn decide(&self, attributes: &Attributes) -> (Decision, String) {
        match self.allowed_by(attributes) {
            Some(reason) => (Decision::Allow, reason),
            None => (Decision::NoOpinion, String::new()),
        }
    }
}

/// The keys RBAC matches a user by: its name and its groups (authentication has already
/// added `system:authenticated` or `system:unauthenticated`).
fn subject_keys(user: &User) -> Vec<String> {
    let mut keys = vec![format!("user:{}", user.name)];
    keys.extend(user.groups.iter().map(|g| format!("group:{g}")));
    keys
}

/// The kind and namespace of the object under `key` (`/registry/rbac…/<plural>/[ns/]name`).
fn kind_of(key: &str) -> Option<&str> {
    key.strip_prefix(PREFIX)?.split('/').next()
}

impl View {
    fn put(&mut self, kv: &KeyValue) {
        let Some(kind) = kind_of(&kv.key) else {
            return;
        };
        match kind {
            "roles" | "clusterroles" => {
                let Ok(role) = serde_json::from_slice::<RoleObject>(&kv.value) else {
                    return;
                };
                let rules = role.rules.unwrap_or_default();
                if kind == "roles" {
                    let ns = role.metadata.namespace.unwrap_or_default();
                    self.roles
                        .entry(ns)
                        .or_default()
                        .insert(role.metadata.name, rules.into());
                } else {
                    // A selector with an unknown operator selects nothing.
                    let selectors = role.aggregation_rule.map(|a| {
                        a.cluster_role_selectors
                            .iter()
                            .filter_map(LabelSelector::from_object)
                            .collect()
                    });
                    self.cluster_roles.insert(
                        role.metadata.name,
                        ClusterRole {
                            stored: rules,
                            labels: serde_json::json!({"metadata": {"labels": role.metadata.labels}}),
                            selectors,
                        },
                    );
                }
            }
            "rolebindings" | "clusterrolebindings" => {
                let Ok(binding) = serde_json::from_slice::<BindingObject>(&kv.value) else {
                    return;
                };
                let ns = if kind == "rolebindings" {
                    Some(binding.metadata.namespace.clone().unwrap_or_default())
                } else {
                    None
                };
                self.bindings.insert(kv.key.clone(), (ns, binding));
            }
            _ => {}
        }
    }

    fn delete(&mut self, key: &str) {
        let rest = key.strip_prefix(PREFIX).unwrap_or_default();
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["roles", ns, name] => {
                if let Some(roles) = self.roles.get_mut(*ns) {
                    roles.remove(*name);
                    if roles.is_empty() {
                        self.roles.remove(*ns);
                    }
                }
            }
            ["clusterroles", name] => {
                self.cluster_roles.remove(*name);
            }
            _ => {
                self.bindings.remove(key);
            }
        }
    }

    /// Rebuilds the subject index and the aggregated rules.
    fn resolve(&mut self) {
        let mut index: HashMap<String, Vec<Grant>> = HashMap::new();
        for (namespace, binding) in self.bindings.values() {
            for subject in binding.subjects.iter().flatten() {
                let key = match subject.kind.as_str() {
                    "User" => format!("user:{}", subject.name),
                    "Group" => format!("group:{}", subject.name),
                    "ServiceAccount" => {
                        let ns = subject
                            .namespace
                            .as_deref()
                            .filter(|n| !n.is_empty())
                            .or(namespace.as_deref())
                            .unwrap_or_default();
                        format!("user:system:serviceaccount:{ns}:{}", subject.name)
                    }
                    _ => continue,
                };
                index.entry(key).or_default().push(Grant {
                    namespace: namespace.clone(),
                    binding: binding.metadata.name.clone(),
                    role: binding.role_ref.clone(),
                });
            }
        }
        self.index = index;
        self.effective = self
            .cluster_roles
            .iter()
            .map(|(name, role)| (name.clone(), Arc::from(role.stored.clone())))
            .collect();
        // Aggregation may nest (admin ← edit ← view): repeat until nothing changes.
        for _ in 0..8 {
            let mut changed = false;
            for (name, role) in &self.cluster_roles {
                let Some(selectors) = &role.selectors else {
                    continue;
                };
                let mut gathered: Vec<PolicyRule> = Vec::new();
                let mut seen = BTreeSet::new();
                let mut sources: Vec<&String> = self
                    .cluster_roles
                    .iter()
                    .filter(|(other, r)| {
                        *other != name && selectors.iter().any(|s| s.matches(&r.labels))
                    })
                    .map(|(other, _)| other)
                    .collect();
                sources.sort();
                for source in sources {
                    for rule in self.effective.get(source).into_iter().flat_map(|r| r.iter()) {
                        if seen.insert(serde_json::to_string(rule).unwrap_or_default()) {
                            gathered.push(rule.clone());
                        }
                    }
                }
                if self.effective.get(name).map(|r| r.as_ref()) != Some(gathered.as_slice()) {
                    self.effective.insert(name.clone(), gathered.into());
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// The grants to the user and its groups, each with the subject key it was found by.
    fn grants<'a>(&'a self, user: &User) -> impl Iterator<Item = (&'a String, &'a Grant)> + 'a {
        subject_keys(user)
            .into_iter()
            .filter_map(|k| self.index.get_key_value(&k))
            .flat_map(|(k, grants)| grants.iter().map(move |g| (k, g)))
    }

    fn role_rules(&self, grant: &Grant) -> Option<&Arc<[PolicyRule]>> {
        match grant.role.kind.as_str() {
            "ClusterRole" => self.effective.get(&grant.role.name),
            "Role" => self
                .roles
                .get(grant.namespace.as_deref().unwrap_or_default())?
                .get(&grant.role.name),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;
    use serde_json::json;

    fn put(view: &mut View, key: &str, object: Value) {
        view.put(&KeyValue {
            key: format!("{PREFIX}{key}"),
            value: object.to_string().into_bytes(),
            create_revision: 1,
            mod_revision: 1,
            version: 1,
            lease: None,
        });
    }

    fn rbac() -> Rbac {
        let mut view = View::default();
        let label = |l: &str| json!({(format!("agg/{l}")): "true"});
        let select = |l: &str| json!({"clusterRoleSelectors": [{"matchLabels": {(format!("agg/{l}")): "true"}}]});
        put(&mut view, "clusterroles/pods", json!({"metadata": {"name": "pods", "labels": label("view")},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}));
        put(&mut view, "clusterroles/view", json!({"metadata": {"name": "view", "labels": label("edit")}, "aggregationRule": select("view")}));
        put(&mut view, "clusterroles/edit", json!({"metadata": {"name": "edit"}, "aggregationRule": select("edit")}));
        put(&mut view, "rolebindings/team/bob", json!({"metadata": {"name": "bob", "namespace": "team"},
            "roleRef": {"kind": "ClusterRole", "name": "edit"}, "subjects": [{"kind": "User", "name": "bob"}]}));
        put(&mut view, "clusterrolebindings/sa", json!({"metadata": {"name": "sa"},
            "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "ci"}]}));
        view.resolve();
        Rbac {
            view: RwLock::new(view),
            revision: tokio::sync::watch::Sender::new(1),
        }
    }

    fn allowed(rbac: &Rbac, user: &str, path: &str) -> bool {
        let user = User::new(user, Vec::new());
        rbac.allowed_by(&Attributes::of_request(user, &Method::GET, path, None)).is_some()
    }

    #[test]
    fn aggregation_nests_and_bindings_keep_to_their_namespace() {
        let rbac = rbac();
        assert!(allowed(&rbac, "bob", "/api/v1/namespaces/team/pods/p"));
        assert!(!allowed(&rbac, "bob", "/api/v1/namespaces/other/pods/p"));
        assert!(!allowed(&rbac, "bob", "/api/v1/namespaces/team/secrets/s"));
        assert!(allowed(&rbac, "system:serviceaccount:ci:robot", "/api/v1/namespaces/other/pods/p"));
        let mut stale: Vec<String> = rbac.aggregated_out_of_date().into_iter().map(|(n, _)| n).collect();
        stale.sort();
        assert_eq!(stale, ["edit", "view"]);
    }

    #[test]
    fn allow_reasons_name_the_binding_and_role() {
        let rbac = rbac();
        let user = User::new("bob", Vec::new());
        let attributes = Attributes::of_request(user, &Method::GET, "/api/v1/namespaces/team/pods/p", None);
        assert_eq!(
            rbac.allowed_by(&attributes).as_deref(),
            Some(r#"RBAC: allowed by RoleBinding "bob/team" of ClusterRole "edit" to User "bob""#)
        );
    }
}
