//! Output order. kustomize's default ("legacy") puts kinds that others
//! depend on first (Namespace, ..., ConfigMap, Secret, Service, ...,
//! Deployment, ...) and webhooks last; everything else in between, ordered by
//! group/version/kind text and then namespace and name.

use crate::kustomization::SortOptions;
use crate::resource::Resource;

const ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

const ORDER_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Sorts resources as `sortOptions` asks (legacy order when unset).
pub fn sort(resources: &mut [Resource], options: Option<&SortOptions>) {
    if options.is_some_and(|o| o.order == "fifo") {
        return;
    }
    let legacy = options.and_then(|o| o.legacy_sort_options.as_ref());
    let first: Vec<&str> = match legacy {
        Some(l) if !l.order_first.is_empty() => l.order_first.iter().map(String::as_str).collect(),
        _ => ORDER_FIRST.to_vec(),
    };
    let last: Vec<&str> = match legacy {
        Some(l) if !l.order_last.is_empty() => l.order_last.iter().map(String::as_str).collect(),
        _ => ORDER_LAST.to_vec(),
    };
    let rank = |kind: &str| -> i64 {
        if let Some(i) = first.iter().position(|k| *k == kind) {
            return i as i64 - first.len() as i64;
        }
        if let Some(i) = last.iter().position(|k| *k == kind) {
            return i as i64 + 1;
        }
        0
    };
    resources.sort_by_cached_key(|r| (rank(r.kind()), gvk_text(r), id_text(r)));
}

fn gvk_text(r: &Resource) -> String {
    let or = |s: &str, d: &str| if s.is_empty() { d.to_string() } else { s.to_string() };
    format!("{}_{}_{}", or(r.group(), "~G"), or(r.version(), "~V"), or(r.kind(), "~K"))
}

fn id_text(r: &Resource) -> String {
    let ns = if r.namespace().is_empty() { "~X" } else { r.namespace() };
    format!("{}|{}", ns, r.name())
}
