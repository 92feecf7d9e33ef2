//! Label selectors and node selector terms, matched as Kubernetes matches them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub type Labels = BTreeMap<String, String>;

/// Whether `labels` match a label selector; an empty selector matches everything.
pub fn matches(selector: &LabelSelector, labels: &Labels) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    by_labels
        && selector.match_expressions.iter().flatten().all(|e| {
            let value = labels.get(&e.key);
            let values = e.values.as_deref().unwrap_or_default();
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// Whether a node matches one node selector term (all its requirements; an empty term matches nothing).
pub fn node_matches_term(node: &Node, term: &NodeSelectorTerm) -> bool {
    let labels = node.metadata.labels.as_ref();
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let empty = Labels::new();
    let labels = labels.unwrap_or(&empty);
    expressions.iter().all(|r| requirement(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            r.key == "metadata.name" && requirement(r, node.metadata.name.as_deref())
        })
}

/// Whether a node matches any of the terms (they are ORed).
pub fn node_matches_any(node: &Node, terms: &[NodeSelectorTerm]) -> bool {
    terms.iter().any(|t| node_matches_term(node, t))
}

fn requirement(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(bound)) = (value.and_then(number), values.first().and_then(|b| number(b))) else {
                return false;
            };
            if r.operator == "Gt" { have > bound } else { have < bound }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_selectors_match_labels_and_expressions() {
        let app = labels(&[("app", "web"), ("tier", "front")]);
        let mut s = LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() };
        assert!(matches(&s, &app));
        assert!(matches(&LabelSelector::default(), &app));
        s.match_expressions = Some(vec![LabelSelectorRequirement { key: "tier".into(), operator: "NotIn".into(), values: Some(vec!["front".into()]) }]);
        assert!(!matches(&s, &app));
        s.match_expressions = Some(vec![LabelSelectorRequirement { key: "zone".into(), operator: "DoesNotExist".into(), values: None }]);
        assert!(matches(&s, &app));
    }

    #[test]
    fn node_terms_use_labels_fields_and_numbers() {
        let mut node = Node::default();
        node.metadata.name = Some("n1".into());
        node.metadata.labels = Some(labels(&[("disk", "ssd"), ("cores", "8")]));
        let req = |key: &str, op: &str, values: &[&str]| NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        let term = |exprs: Vec<NodeSelectorRequirement>, fields: Vec<NodeSelectorRequirement>| NodeSelectorTerm {
            match_expressions: Some(exprs),
            match_fields: Some(fields),
        };
        assert!(node_matches_term(&node, &term(vec![req("disk", "In", &["ssd", "nvme"]), req("cores", "Gt", &["4"])], vec![])));
        assert!(!node_matches_term(&node, &term(vec![req("cores", "Lt", &["4"])], vec![])));
        assert!(node_matches_term(&node, &term(vec![], vec![req("metadata.name", "In", &["n1"])])));
        assert!(!node_matches_term(&node, &term(vec![], vec![])), "an empty term matches nothing");
    }
}
