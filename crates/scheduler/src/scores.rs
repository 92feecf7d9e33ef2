//! The scores: among the nodes that can run a pod, which suits it best. Each
//! plugin scores every feasible node 0–100; the weighted sum decides, with
//! kube-scheduler's default weights.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Taint;

use crate::cache::NodeInfo;
use crate::filters::{self, Cycle};
use crate::resources;
use crate::selectors::{self, Labels};
use crate::terms::Term;

static NO_LABELS: std::sync::LazyLock<Labels> = std::sync::LazyLock::new(Labels::new);

/// The total score of each node, in the order given.
pub fn score(c: &Cycle, nodes: &[&NodeInfo]) -> Vec<i64> {
    let plugins: [(i64, Vec<i64>); 6] = [
        (1, nodes.iter().map(|n| least_allocated(c, n)).collect()),
        (1, nodes.iter().map(|n| balanced_allocation(c, n)).collect()),
        (2, normalize_up(nodes.iter().map(|n| preferred_node_affinity(c, n)).collect())),
        (3, normalize_down(nodes.iter().map(|n| intolerable_soft_taints(c, n)).collect())),
        (2, preferred_pod_affinity(c, nodes)),
        (2, soft_spread(c, nodes)),
    ];
    (0..nodes.len()).map(|i| plugins.iter().map(|(w, s)| w * s[i]).sum()).collect()
}

/// Scales raw scores so the highest is 100 (higher is better).
fn normalize_up(raw: Vec<i64>) -> Vec<i64> {
    let max = raw.iter().copied().max().unwrap_or(0);
    if max <= 0 {
        return raw.iter().map(|_| 0).collect();
    }
    raw.iter().map(|r| r * 100 / max).collect()
}

/// Scales raw counts so the lowest is best (100) and the highest worst (0).
fn normalize_down(raw: Vec<i64>) -> Vec<i64> {
    let max = raw.iter().copied().max().unwrap_or(0);
    if max <= 0 {
        return raw.iter().map(|_| 100).collect();
    }
    raw.iter().map(|r| (max - r) * 100 / max).collect()
}

/// Scales raw scores between their minimum (0) and maximum (100).
fn normalize_range(raw: Vec<i64>) -> Vec<i64> {
    let (min, max) = (raw.iter().copied().min().unwrap_or(0), raw.iter().copied().max().unwrap_or(0));
    if max == min {
        return raw.iter().map(|_| 0).collect();
    }
    raw.iter().map(|r| (r - min) * 100 / (max - min)).collect()
}

fn fraction(requested: i128, allocatable: i128) -> f64 {
    if allocatable <= 0 { 1.0 } else { (requested as f64 / allocatable as f64).min(1.0) }
}

/// Prefers nodes with more CPU and memory left after placing the pod.
fn least_allocated(c: &Cycle, n: &NodeInfo) -> i64 {
    let pod = resources::pod_requests_for_scoring(c.pod);
    let after = n.requested_for_scoring.plus(&pod);
    let cpu = 1.0 - fraction(after.milli_cpu, n.allocatable.milli_cpu);
    let memory = 1.0 - fraction(after.memory, n.allocatable.memory);
    ((cpu + memory) * 50.0) as i64
}

/// Prefers nodes whose CPU and memory use stay in proportion.
fn balanced_allocation(c: &Cycle, n: &NodeInfo) -> i64 {
    let pod = resources::pod_requests_for_scoring(c.pod);
    let after = n.requested_for_scoring.plus(&pod);
    let spread = (fraction(after.milli_cpu, n.allocatable.milli_cpu) - fraction(after.memory, n.allocatable.memory)).abs() / 2.0;
    ((1.0 - spread) * 100.0) as i64
}

fn preferred_node_affinity(c: &Cycle, n: &NodeInfo) -> i64 {
    let Some(node) = &n.node else { return 0 };
    let preferred = c.spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()).and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref());
    preferred
        .into_iter()
        .flatten()
        .filter(|p| selectors::node_matches_term(node, &p.preference))
        .map(|p| i64::from(p.weight))
        .sum()
}

fn intolerable_soft_taints(c: &Cycle, n: &NodeInfo) -> i64 {
    let tolerations: Vec<_> = c.spec.tolerations.iter().flatten().filter(|t| t.effect.as_deref().is_none_or(|e| e.is_empty() || e == "PreferNoSchedule")).collect();
    let soft: Vec<Taint> = filters::node_taints(n).into_iter().filter(|t| t.effect == "PreferNoSchedule").collect();
    soft.iter().filter(|t| !tolerations.iter().any(|tol| filters::tolerates(tol, t))).count() as i64
}

/// Preferred pod affinity adds, preferred anti-affinity subtracts, per matching pod in the
/// node's domain, times the term's weight.
fn preferred_pod_affinity(c: &Cycle, nodes: &[&NodeInfo]) -> Vec<i64> {
    let affinity = c.spec.affinity.as_ref();
    let soft = |anti: bool| {
        let terms = if anti {
            affinity.and_then(|a| a.pod_anti_affinity.as_ref()).and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
        } else {
            affinity.and_then(|a| a.pod_affinity.as_ref()).and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
        };
        terms.into_iter().flatten().map(move |t| (if anti { -1 } else { 1 } * i64::from(t.weight), &t.pod_affinity_term))
    };
    let weighted: Vec<(i64, Term, HashMap<String, usize>)> = soft(false)
        .chain(soft(true))
        .map(|(w, t)| {
            let term = Term::new(t, c.pod, c.cache);
            let domains = term.domains(c.cache);
            (w, term, domains)
        })
        .collect();
    if weighted.is_empty() {
        return nodes.iter().map(|_| 0).collect();
    }
    let raw = nodes
        .iter()
        .map(|n| {
            weighted
                .iter()
                .map(|(w, term, domains)| n.label(term.topology_key()).and_then(|v| domains.get(v)).map_or(0, |count| w * *count as i64))
                .sum()
        })
        .collect();
    normalize_range(raw)
}

/// Soft (`ScheduleAnyway`) topology spread: fewer matching pods in the node's domains is better.
fn soft_spread(c: &Cycle, nodes: &[&NodeInfo]) -> Vec<i64> {
    let namespace = c.pod.metadata.namespace.as_deref().unwrap_or_default();
    let constraints: Vec<_> = c.spec.topology_spread_constraints.iter().flatten().filter(|t| t.when_unsatisfiable == "ScheduleAnyway").collect();
    if constraints.is_empty() {
        return nodes.iter().map(|_| 100).collect();
    }
    let raw = nodes
        .iter()
        .map(|n| {
            constraints
                .iter()
                .map(|t| {
                    let Some(value) = n.label(&t.topology_key) else { return 0 };
                    c.cache
                        .nodes()
                        .filter(|other| other.label(&t.topology_key) == Some(value))
                        .flat_map(|other| other.pods.values())
                        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
                        .filter(|p| t.label_selector.as_ref().is_some_and(|s| selectors::matches(s, p.metadata.labels.as_ref().unwrap_or(&NO_LABELS))))
                        .count() as i64
                })
                .sum()
        })
        .collect();
    normalize_down(raw)
}
