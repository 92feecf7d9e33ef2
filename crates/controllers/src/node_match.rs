//! Which nodes a pod (template) or a volume may use, as the controllers judge it before the
//! scheduler does: required node selector terms (labels and `metadata.name` fields) and
//! taints against tolerations.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelector, Taint, Toleration};
use kube::ResourceExt;

/// Whether `node` satisfies any of the required terms (no terms: none does).
pub fn selector_matches(required: &NodeSelector, node: &Node) -> bool {
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    let name = node.name_any();
    required.node_selector_terms.iter().any(|term| {
        let expressions = term.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                "Gt" | "Lt" => {
                    let number = value.and_then(|v| v.parse::<i64>().ok());
                    let bound = values.first().and_then(|b| b.parse::<i64>().ok());
                    match (number, bound) {
                        (Some(v), Some(b)) => (e.operator == "Gt" && v > b) || (e.operator == "Lt" && v < b),
                        _ => false,
                    }
                }
                _ => false,
            }
        });
        let fields = term.match_fields.iter().flatten().all(|f| {
            let values = f.values.as_deref().unwrap_or_default();
            f.key == "metadata.name" && (f.operator == "In") == values.contains(&name)
        });
        let non_empty = !term.match_expressions.as_deref().unwrap_or_default().is_empty() || !term.match_fields.as_deref().unwrap_or_default().is_empty();
        expressions && fields && non_empty
    })
}

/// Whether a toleration tolerates a taint (key, operator, value, effect).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect_ok = toleration.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
    let key_ok = toleration.key.as_deref().is_none_or(|k| k.is_empty() || k == taint.key);
    let value_ok = match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        _ => toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default(),
    };
    effect_ok && key_ok && value_ok
}

/// The node's taints with the given effects that no toleration tolerates.
pub fn untolerated<'a>(node: &'a Node, tolerations: &[Toleration], effects: &[&str]) -> Vec<&'a Taint> {
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
    taints
        .iter()
        .filter(|t| effects.contains(&t.effect.as_str()))
        .filter(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terms_and_tolerations_match_as_kubernetes_does() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1", "labels": {"disk": "ssd", "rank": "5"}},
            "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}, {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]}})).unwrap();
        let sel = |terms: serde_json::Value| -> NodeSelector { serde_json::from_value(json!({"nodeSelectorTerms": terms})).unwrap() };
        assert!(selector_matches(&sel(json!([{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}])), &node));
        assert!(selector_matches(&sel(json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])), &node));
        assert!(!selector_matches(&sel(json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}])), &node));
        assert!(selector_matches(&sel(json!([{"matchExpressions": [{"key": "rank", "operator": "Gt", "values": ["3"]}]}])), &node));
        assert!(!selector_matches(&sel(json!([{}])), &node));
        let tol: Vec<Toleration> = serde_json::from_value(json!([{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}])).unwrap();
        let left = untolerated(&node, &tol, &["NoSchedule", "NoExecute"]);
        assert_eq!(left.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["node.kubernetes.io/unreachable"]);
        let all: Vec<Toleration> = serde_json::from_value(json!([{"operator": "Exists"}])).unwrap();
        assert!(untolerated(&node, &all, &["NoSchedule", "NoExecute"]).is_empty());
    }
}
