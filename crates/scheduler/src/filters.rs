//! The filters: which nodes can run a pod at all. Each answers for one node with
//! the reasons it cannot, worded as kube-scheduler words them, so that a
//! `FailedScheduling` event reads the same.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::{Pod, PodSpec, Taint, Toleration, TopologySpreadConstraint};

use crate::cache::{Cache, NodeInfo};
use crate::resources::{self, Resources};
use crate::selectors::{self, Labels};
use crate::terms::Term;

/// What one scheduling cycle knows about the pod being placed, computed once for all nodes.
pub struct Cycle<'a> {
    pub pod: &'a Pod,
    pub spec: &'a PodSpec,
    pub requests: Resources,
    pub cache: &'a Cache,
    /// Required affinity terms, with the domains their pods are in.
    affinity: Vec<(Term<'a>, HashMap<String, usize>)>,
    /// Whether any pod anywhere matches every required affinity term (if none does, a pod
    /// that matches its own terms may start the group).
    affinity_anywhere: bool,
    /// Required anti-affinity terms, with the domains their pods are in.
    anti_affinity: Vec<(Term<'a>, HashMap<String, usize>)>,
    /// (topology key, value) pairs where existing pods' anti-affinity keeps this pod out.
    excluded_by_existing: HashSet<(String, String)>,
    /// Hard spread constraints with the pod counts per domain and the smallest count.
    spread: Vec<Spread<'a>>,
}

/// A `DoNotSchedule` topology spread constraint with its domains' counts.
struct Spread<'a> {
    constraint: &'a TopologySpreadConstraint,
    counts: HashMap<String, i64>,
    min: i64,
}

static NO_LABELS: std::sync::LazyLock<Labels> = std::sync::LazyLock::new(Labels::new);

/// A reason every node shares, found before looking at nodes (e.g. a missing claim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unschedulable(pub String);

impl<'a> Cycle<'a> {
    pub fn new(pod: &'a Pod, spec: &'a PodSpec, cache: &'a Cache) -> Result<Cycle<'a>, Unschedulable> {
        check_claims(pod, spec, cache)?;
        let affinity_terms = spec.affinity.as_ref().and_then(|a| a.pod_affinity.as_ref()).and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
        let affinity: Vec<_> = affinity_terms
            .into_iter()
            .flatten()
            .map(|t| {
                let term = Term::new(t, pod, cache);
                let domains = term.domains(cache);
                (term, domains)
            })
            .collect();
        let affinity_anywhere = affinity.iter().all(|(_, d)| !d.is_empty());
        let anti_terms = spec.affinity.as_ref().and_then(|a| a.pod_anti_affinity.as_ref()).and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
        let anti_affinity = anti_terms
            .into_iter()
            .flatten()
            .map(|t| {
                let term = Term::new(t, pod, cache);
                let domains = term.domains(cache);
                (term, domains)
            })
            .collect();
        let mut excluded_by_existing = HashSet::new();
        for node in cache.nodes().filter(|n| n.with_anti_affinity > 0) {
            for existing in node.pods.values() {
                let terms = existing.spec.as_ref().and_then(|s| s.affinity.as_ref()).and_then(|a| a.pod_anti_affinity.as_ref()).and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
                for t in terms.into_iter().flatten() {
                    if Term::new(t, existing, cache).selects(pod) {
                        if let Some(value) = node.label(&t.topology_key) {
                            excluded_by_existing.insert((t.topology_key.clone(), value.to_string()));
                        }
                    }
                }
            }
        }
        let spread = spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
            .map(|c| spread_counts(c, pod, spec, cache))
            .collect();
        Ok(Cycle {
            pod,
            spec,
            requests: resources::pod_requests(pod),
            cache,
            affinity,
            affinity_anywhere,
            anti_affinity,
            excluded_by_existing,
            spread,
        })
    }

    /// The reasons `node` cannot run the pod (empty if it can): the first filter that
    /// fails decides, as in kube-scheduler.
    pub fn filter(&self, node: &NodeInfo) -> Vec<String> {
        let filters: [fn(&Cycle, &NodeInfo) -> Vec<String>; 9] = [
            unschedulable,
            node_name,
            taints,
            node_affinity,
            host_ports,
            fit,
            volume_node_affinity,
            topology_spread,
            pod_affinity,
        ];
        filters.iter().map(|f| f(self, node)).find(|r| !r.is_empty()).unwrap_or_default()
    }
}

/// Whether a toleration tolerates a taint.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect_ok = toleration.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
    let key = toleration.key.as_deref().unwrap_or_default();
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => effect_ok && (key.is_empty() || key == taint.key),
        "Equal" => effect_ok && key == taint.key && toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default(),
        _ => false,
    }
}

/// A node's taints, plus `not-ready` for a node whose Ready condition is not True (the
/// node lifecycle controller's taint, which the scheduler honours even before it is set).
pub fn node_taints(node: &NodeInfo) -> Vec<Taint> {
    let Some(n) = &node.node else {
        return Vec::new();
    };
    let mut taints: Vec<Taint> = n.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let ready = n.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|c| c.iter().find(|c| c.type_ == "Ready")).map(|c| c.status.as_str());
    let key = match ready {
        Some("True") => None,
        Some("False") => Some("node.kubernetes.io/not-ready"),
        _ => Some("node.kubernetes.io/unreachable"),
    };
    if let Some(key) = key {
        if !taints.iter().any(|t| t.key == key) {
            taints.push(Taint { key: key.into(), effect: "NoSchedule".into(), ..Default::default() });
        }
    }
    taints
}

fn unschedulable(c: &Cycle, node: &NodeInfo) -> Vec<String> {
    let cordoned = node.node.as_ref().and_then(|n| n.spec.as_ref()).and_then(|s| s.unschedulable).unwrap_or(false);
    let taint = Taint { key: "node.kubernetes.io/unschedulable".into(), effect: "NoSchedule".into(), ..Default::default() };
    let tolerated = c.spec.tolerations.iter().flatten().any(|t| tolerates(t, &taint));
    if cordoned && !tolerated { vec!["node(s) were unschedulable".into()] } else { vec![] }
}

fn node_name(c: &Cycle, node: &NodeInfo) -> Vec<String> {
    match c.spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        Some(wanted) if wanted != node.name() => vec!["node(s) didn't match the requested node name".into()],
        _ => vec![],
    }
}

fn taints(c: &Cycle, node: &NodeInfo) -> Vec<String> {
    let tolerations = c.spec.tolerations.as_deref().unwrap_or_default();
    node_taints(node)
        .into_iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
        .map(|t| vec![format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value.as_deref().unwrap_or_default())])
        .unwrap_or_default()
}

/// Whether a node satisfies the pod's nodeSelector and required node affinity.
pub fn matches_node_selector(spec: &PodSpec, node: &NodeInfo) -> bool {
    let labels = node.labels().unwrap_or(&NO_LABELS);
    let selector_ok = spec.node_selector.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let required = spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()).and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
    let affinity_ok = match (required, &node.node) {
        (Some(r), Some(n)) => selectors::node_matches_any(n, &r.node_selector_terms),
        (Some(_), None) => false,
        (None, _) => true,
    };
    selector_ok && affinity_ok
}

fn node_affinity(c: &Cycle, node: &NodeInfo) -> Vec<String> {
    if matches_node_selector(c.spec, node) { vec![] } else { vec!["node(s) didn't match Pod's node affinity/selector".into()] }
}

/// (protocol, host IP, port) of every host port a pod asks for.
fn host_ports_of(spec: &PodSpec) -> Vec<(String, String, i32)> {
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|p| *p > 0)?;
            Some((p.protocol.clone().unwrap_or_else(|| "TCP".into()), p.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "0.0.0.0".into()), port))
        })
        .collect()
}

fn host_ports(c: &Cycle, node: &NodeInfo) -> Vec<String> {
    let wanted = host_ports_of(c.spec);
    if wanted.is_empty() {
        return vec![];
    }
    let used: Vec<_> = node.pods.values().filter_map(|p| p.spec.as_ref()).flat_map(host_ports_of).collect();
    let clash = wanted.iter().any(|(proto, ip, port)| {
        used.iter().any(|(p2, ip2, port2)| proto == p2 && port == port2 && (ip == ip2 || ip == "0.0.0.0" || ip2 == "0.0.0.0"))
    });
    if clash { vec!["node(s) didn't have free ports for the requested pod ports".into()] } else { vec![] }
}

fn fit(c: &Cycle, node: &NodeInfo) -> Vec<String> {
    let mut reasons = Vec::new();
    if node.pods.len() as i64 + 1 > node.max_pods {
        reasons.push("Too many pods".to_string());
    }
    let after = node.requested.plus(&c.requests);
    let checks = [
        ("cpu", c.requests.milli_cpu, after.milli_cpu, node.allocatable.milli_cpu),
        ("memory", c.requests.memory, after.memory, node.allocatable.memory),
        ("ephemeral-storage", c.requests.ephemeral_storage, after.ephemeral_storage, node.allocatable.ephemeral_storage),
    ];
    for (name, asked, total, allocatable) in checks {
        // A resource the node does not report is only short when the pod asks for it.
        if asked > 0 && total > allocatable {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

/// Pod-level volume checks: every claim exists and is bound, or waits for its first consumer.
fn check_claims(pod: &Pod, spec: &PodSpec, cache: &Cache) -> Result<(), Unschedulable> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    for volume in spec.volumes.iter().flatten() {
        let Some(claim) = &volume.persistent_volume_claim else { continue };
        let Some(pvc) = cache.claim(namespace, &claim.claim_name) else {
            return Err(Unschedulable(format!("persistentvolumeclaim \"{}\" not found", claim.claim_name)));
        };
        if pvc.metadata.deletion_timestamp.is_some() {
            return Err(Unschedulable(format!("persistentvolumeclaim \"{}\" is being deleted", claim.claim_name)));
        }
        // A WaitForFirstConsumer claim is bound (or provisioned) once this pod has a node.
        if pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()).is_none_or(str::is_empty) && !cache.binding_delayed(pvc) {
            return Err(Unschedulable("pod has unbound immediate PersistentVolumeClaims".into()));
        }
    }
    Ok(())
}

fn volume_node_affinity(c: &Cycle, node: &NodeInfo) -> Vec<String> {
    let namespace = c.pod.metadata.namespace.as_deref().unwrap_or_default();
    let Some(n) = &node.node else { return vec![] };
    for volume in c.spec.volumes.iter().flatten() {
        let Some(claim) = &volume.persistent_volume_claim else { continue };
        let pv_name = c.cache.claim(namespace, &claim.claim_name).and_then(|pvc| pvc.spec.as_ref()).and_then(|s| s.volume_name.clone());
        let required = pv_name
            .and_then(|name| c.cache.volume(&name))
            .and_then(|pv| pv.spec.as_ref())
            .and_then(|s| s.node_affinity.as_ref())
            .and_then(|a| a.required.as_ref());
        if let Some(required) = required {
            if !selectors::node_matches_any(n, &required.node_selector_terms) {
                return vec!["node(s) had volume node affinity conflict".into()];
            }
        }
    }
    vec![]
}

/// The pods a spread constraint counts on each domain, over the nodes the pod could use.
fn spread_counts<'a>(constraint: &'a TopologySpreadConstraint, pod: &Pod, spec: &PodSpec, cache: &Cache) -> Spread<'a> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let mut counts: HashMap<String, i64> = HashMap::new();
    for node in cache.nodes() {
        let Some(value) = node.label(&constraint.topology_key) else { continue };
        if !matches_node_selector(spec, node) {
            continue;
        }
        let n = node
            .pods
            .values()
            .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
            .filter(|p| constraint.label_selector.as_ref().is_some_and(|s| selectors::matches(s, p.metadata.labels.as_ref().unwrap_or(&NO_LABELS))))
            .count() as i64;
        *counts.entry(value.to_string()).or_insert(0) += n;
    }
    let mut min = counts.values().copied().min().unwrap_or(0);
    // With fewer domains than minDomains, the global minimum counts as zero.
    if constraint.min_domains.is_some_and(|m| (counts.len() as i32) < m) {
        min = 0;
    }
    Spread { constraint, counts, min }
}

fn topology_spread(c: &Cycle, node: &NodeInfo) -> Vec<String> {
    let own_labels = c.pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
    for s in &c.spread {
        let Some(value) = node.label(&s.constraint.topology_key) else {
            return vec!["node(s) didn't match pod topology spread constraints (missing required label)".into()];
        };
        let selves = i64::from(s.constraint.label_selector.as_ref().is_some_and(|sel| selectors::matches(sel, own_labels)));
        let here = s.counts.get(value).copied().unwrap_or(0);
        if here + selves - s.min > i64::from(s.constraint.max_skew) {
            return vec!["node(s) didn't match pod topology spread constraints".into()];
        }
    }
    vec![]
}

fn pod_affinity(c: &Cycle, node: &NodeInfo) -> Vec<String> {
    // kube-scheduler's order: the pod's affinity, its anti-affinity, then existing pods'.
    if !c.affinity.is_empty() {
        let satisfied = c.affinity.iter().all(|(term, domains)| node.label(term.topology_key()).is_some_and(|v| domains.contains_key(v)));
        // The first pod of a group that selects itself may go anywhere with the keys.
        let first_of_group = !c.affinity_anywhere
            && c.affinity.iter().all(|(term, _)| term.selects(c.pod) && node.label(term.topology_key()).is_some());
        if !satisfied && !first_of_group {
            return vec!["node(s) didn't match pod affinity rules".into()];
        }
    }
    for (term, domains) in &c.anti_affinity {
        if node.label(term.topology_key()).is_some_and(|v| domains.contains_key(v)) {
            return vec!["node(s) didn't match pod anti-affinity rules".into()];
        }
    }
    if c.excluded_by_existing.iter().any(|(key, value)| node.label(key) == Some(value.as_str())) {
        return vec!["node(s) didn't satisfy existing pods anti-affinity rules".into()];
    }
    vec![]
}
