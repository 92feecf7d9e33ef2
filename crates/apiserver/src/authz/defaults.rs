//! The default ClusterRoles and ClusterRoleBindings every cluster has
//! (`cluster-admin`, `admin`/`edit`/`view` built by aggregation,
//! `system:discovery`, `system:basic-user`, `system:public-info-viewer`,
//! `system:service-account-issuer-discovery` (OIDC discovery for ServiceAccounts),
//! `system:node`, `system:kube-scheduler`, metrics-server's
//! `system:aggregated-metrics-reader`), reconciled at start as Kubernetes
//! does: missing ones are created, and ones carrying
//! `rbac.authorization.kubernetes.io/autoupdate: "true"` get any missing
//! default rules and subjects added back; a user who set the annotation to
//! "false" keeps their version untouched.

use serde_json::{json, Value};
use tug_store::Store;

use super::rules::PolicyRule;
use crate::object;

/// The annotation that lets the server bring a default object back to its defaults.
pub const AUTOUPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";
const AGGREGATE: &str = "rbac.authorization.k8s.io/aggregate-to-";

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    PolicyRule::resources(verbs, groups, resources)
}

/// What `view` holds: reading everything in a namespace but Secrets.
fn view_rules() -> Vec<PolicyRule> {
    vec![
        rule(READ, &[""], &[
            "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
            "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
            "services", "services/status", "bindings", "events", "limitranges", "namespaces/status",
            "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas",
            "resourcequotas/status", "namespaces",
        ]),
        rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        rule(READ, &["apps"], &[
            "controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
            "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
            "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status",
        ]),
        rule(READ, &["autoscaling"], &["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        rule(READ, &["batch"], &["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        rule(READ, &["policy"], &["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        rule(READ, &["networking.k8s.io"], &["ingresses", "ingresses/status", "networkpolicies"]),
    ]
}

/// What `edit` adds: writing workloads, Secrets included, but not roles or bindings.
fn edit_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["impersonate"], &[""], &["serviceaccounts"]),
        rule(WRITE, &[""], &[
            "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "configmaps",
            "events", "persistentvolumeclaims", "replicationcontrollers",
            "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
            "services/proxy",
        ]),
        rule(READ, &[""], &["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"]),
        rule(&["create"], &[""], &["pods/eviction", "serviceaccounts/token"]),
        rule(WRITE, &["apps"], &[
            "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
            "replicasets/scale", "statefulsets", "statefulsets/scale",
        ]),
        rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        rule(WRITE, &["batch"], &["cronjobs", "jobs"]),
        rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
        rule(WRITE, &["networking.k8s.io"], &["ingresses", "networkpolicies"]),
        rule(WRITE, &["discovery.k8s.io"], &["endpointslices"]),
        rule(WRITE, &["coordination.k8s.io"], &["leases"]),
        rule(READ, &["coordination.k8s.io"], &["leases"]),
    ]
}

/// What `admin` adds: roles and bindings in the namespace, and access reviews.
fn admin_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["create"], &["authorization.k8s.io"], &["localsubjectaccessreviews"]),
        rule(ALL, &["rbac.authorization.k8s.io"], &["rolebindings", "roles"]),
    ]
}

/// What an agent's role holds (the Node authorizer narrows it to its own node).
fn node_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
        rule(&["create"], &["authorization.k8s.io"], &["localsubjectaccessreviews", "subjectaccessreviews"]),
        rule(READ, &[""], &["services", "endpoints", "nodes", "pods"]),
        rule(&["create", "update", "patch"], &[""], &["nodes", "nodes/status"]),
        rule(&["create", "patch", "update"], &["", "events.k8s.io"], &["events"]),
        rule(&["create", "delete"], &[""], &["pods"]),
        rule(&["patch", "update"], &[""], &["pods/status"]),
        rule(&["create"], &[""], &["pods/eviction", "serviceaccounts/token"]),
        rule(&["get"], &[""], &["configmaps", "secrets", "persistentvolumeclaims", "persistentvolumes"]),
        rule(&["create", "delete", "get", "patch", "update"], &["coordination.k8s.io"], &["leases"]),
    ]
}

fn scheduler_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["create", "patch", "update"], &["", "events.k8s.io"], &["events"]),
        rule(&["create"], &[""], &["pods/binding", "bindings"]),
        rule(&["patch", "update"], &[""], &["pods/status"]),
        rule(&["delete", "get", "list", "watch"], &[""], &["pods"]),
        rule(READ, &[""], &["nodes", "namespaces", "services", "replicationcontrollers", "persistentvolumeclaims", "persistentvolumes"]),
        rule(READ, &["apps"], &["replicasets", "statefulsets"]),
        rule(READ, &["policy"], &["poddisruptionbudgets"]),
        rule(READ, &["storage.k8s.io"], &["storageclasses", "csinodes", "csidrivers", "csistoragecapacities"]),
        rule(&["create", "get", "update"], &["coordination.k8s.io"], &["leases"]),
    ]
}

fn cluster_role(name: &str, labels: Value, rules: Vec<PolicyRule>, aggregate_from: Option<&str>) -> Value {
    let mut role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {AUTOUPDATE: "true"},
        },
        "rules": rules,
    });
    if let Some(to) = aggregate_from {
        role["aggregationRule"] = json!({"clusterRoleSelectors": [
            {"matchLabels": {format!("{AGGREGATE}{to}"): "true"}}
        ]});
    }
    role
}

fn binding(name: &str, role: &str, subjects: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {AUTOUPDATE: "true"},
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

fn group(name: &str) -> Value {
    json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name})
}

/// The default ClusterRoles, aggregation sources before the roles that gather them.
pub fn cluster_roles() -> Vec<Value> {
    let bootstrap = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    let labelled = |extra: &[(&str, &str)]| {
        let mut labels = bootstrap.clone();
        for (k, v) in extra {
            labels[*k] = json!(v);
        }
        labels
    };
    let to = |level: &str| format!("{AGGREGATE}{level}");
    let discovery = [
        "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
        "/readyz", "/version", "/version/",
    ];
    let public = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    vec![
        cluster_role("cluster-admin", labelled(&[]), vec![
            rule(&["*"], &["*"], &["*"]),
            PolicyRule::urls(&["*"], &["*"]),
        ], None),
        cluster_role("system:aggregate-to-view", labelled(&[(&to("view"), "true")]), view_rules(), None),
        cluster_role("system:aggregate-to-edit", labelled(&[(&to("edit"), "true")]), edit_rules(), None),
        cluster_role("system:aggregate-to-admin", labelled(&[(&to("admin"), "true")]), admin_rules(), None),
        // metrics-server's role: whoever may view a namespace may read its pods' usage.
        cluster_role(
            "system:aggregated-metrics-reader",
            labelled(&[(&to("view"), "true"), (&to("edit"), "true"), (&to("admin"), "true")]),
            vec![rule(&["get", "list", "watch"], &["metrics.k8s.io"], &["pods", "nodes"])],
            None,
        ),
        cluster_role("view", labelled(&[(&to("edit"), "true")]), Vec::new(), Some("view")),
        cluster_role("edit", labelled(&[(&to("admin"), "true")]), Vec::new(), Some("edit")),
        cluster_role("admin", labelled(&[]), Vec::new(), Some("admin")),
        cluster_role("system:discovery", labelled(&[]), vec![PolicyRule::urls(&["get"], &discovery)], None),
        cluster_role("system:public-info-viewer", labelled(&[]), vec![PolicyRule::urls(&["get"], &public)], None),
        cluster_role(
            "system:service-account-issuer-discovery",
            labelled(&[]),
            vec![PolicyRule::urls(&["get"], &["/.well-known/openid-configuration", "/openid/v1/jwks"])],
            None,
        ),
        cluster_role("system:basic-user", labelled(&[]), vec![
            rule(&["create"], &["authorization.k8s.io"], &["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            rule(&["create"], &["authentication.k8s.io"], &["selfsubjectreviews"]),
        ], None),
        cluster_role("system:node", labelled(&[]), node_rules(), None),
        cluster_role("system:kube-scheduler", labelled(&[]), scheduler_rules(), None),
        cluster_role("system:tug:node-bootstrapper", labelled(&[]), vec![PolicyRule::urls(&["post"], &["/tug/v1/node-credentials"])], None),
    ]
}

/// The default ClusterRoleBindings.
pub fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding("cluster-admin", "cluster-admin", json!([group("system:masters")])),
        binding("system:discovery", "system:discovery", json!([group("system:authenticated")])),
        binding("system:basic-user", "system:basic-user", json!([group("system:authenticated")])),
        binding("system:public-info-viewer", "system:public-info-viewer", json!([group("system:authenticated"), group("system:unauthenticated")])),
        binding("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", json!([group("system:serviceaccounts")])),
        binding("system:kube-scheduler", "system:kube-scheduler", json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:kube-scheduler"}])),
        binding("system:tug:node-bootstrapper", "system:tug:node-bootstrapper", json!([group("system:bootstrappers")])),
    ]
}

/// What can stop the defaults from being written.
#[derive(Debug, thiserror::Error)]
#[error("failed to reconcile the default {kind} {name}: {source}")]
pub struct ReconcileError {
    kind: &'static str,
    name: String,
    source: tug_store::Error,
}

/// Creates the missing default roles and bindings and brings auto-updated ones back to
/// (at least) their defaults.
pub async fn reconcile(store: &dyn Store) -> Result<(), ReconcileError> {
    let roles = tug_api::registry::find("rbac.authorization.k8s.io", "v1", "clusterroles");
    let bindings = tug_api::registry::find("rbac.authorization.k8s.io", "v1", "clusterrolebindings");
    let (Some(roles), Some(bindings)) = (roles, bindings) else {
        return Ok(());
    };
    for (rt, wanted, field) in [
        (roles, cluster_roles(), "rules"),
        (bindings, cluster_role_bindings(), "subjects"),
    ] {
        for object in wanted {
            let name = object::meta_str(&object, "name").unwrap_or_default().to_string();
            let error = |source| ReconcileError {
                kind: rt.kind,
                name: name.clone(),
                source,
            };
            let key = rt.key(None, &name);
            match store.get(&key).await.map_err(error)? {
                None => {
                    let mut object = object;
                    object::set_meta(&mut object, "uid", json!(object::new_uid()));
                    object::set_meta(&mut object, "creationTimestamp", json!(object::now()));
                    match store.create(&key, object::to_bytes(rt, &object), None).await {
                        Ok(_) | Err(tug_store::Error::AlreadyExists { .. }) => {}
                        Err(e) => return Err(error(e)),
                    }
                }
                Some(kv) => {
                    let Ok(mut current) = serde_json::from_slice::<Value>(&kv.value) else {
                        continue;
                    };
                    let autoupdate = current
                        .pointer(&format!("/metadata/annotations/{}", AUTOUPDATE.replace('/', "~1")))
                        .and_then(Value::as_str)
                        != Some("false");
                    // Aggregated roles' rules are filled in by aggregation, not here.
                    if !autoupdate || object.get("aggregationRule").is_some() {
                        continue;
                    }
                    let mut items = current.get(field).and_then(Value::as_array).cloned().unwrap_or_default();
                    let missing: Vec<Value> = object
                        .get(field)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter(|item| !items.contains(item))
                        .cloned()
                        .collect();
                    if missing.is_empty() {
                        continue;
                    }
                    items.extend(missing);
                    current[field] = Value::Array(items);
                    match store.update(&key, object::to_bytes(rt, &current), kv.mod_revision, None).await {
                        Ok(_) | Err(tug_store::Error::Conflict { .. }) => {}
                        Err(e) => return Err(error(e)),
                    }
                }
            }
        }
    }
    Ok(())
}
