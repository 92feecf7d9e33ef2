//! One scheduling decision: filter every node, score the ones left, pick the best
//! (ties broken by a rotating choice so equal nodes share the load), or explain
//! why no node fits in kube-scheduler's words.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Pod;

use crate::cache::{Cache, NodeInfo};
use crate::filters::{Cycle, Unschedulable};
use crate::scores;

/// Why a pod fits no node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitError {
    NoNodes,
    /// A reason found before looking at nodes (a missing claim …), shared by all of them.
    Pod { nodes: usize, reason: String },
    /// Per-reason counts of the nodes that refused.
    Nodes { nodes: usize, reasons: BTreeMap<String, usize> },
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::NoNodes => f.write_str("no nodes available to schedule pods"),
            FitError::Pod { nodes, reason } => write!(f, "0/{nodes} nodes are available: {reason}."),
            FitError::Nodes { nodes, reasons } => {
                let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
                parts.sort();
                write!(f, "0/{nodes} nodes are available: {}.", parts.join(", "))
            }
        }
    }
}

/// The node the pod should run on. `turn` rotates the choice among equally good nodes.
pub fn schedule(pod: &Pod, cache: &Cache, turn: usize) -> Result<String, FitError> {
    let nodes = cache.node_count();
    if nodes == 0 {
        return Err(FitError::NoNodes);
    }
    let spec = pod.spec.as_ref().ok_or_else(|| FitError::Pod { nodes, reason: "the pod has no spec".into() })?;
    let cycle = Cycle::new(pod, spec, cache).map_err(|Unschedulable(reason)| FitError::Pod { nodes, reason })?;
    let mut feasible: Vec<&NodeInfo> = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for node in cache.nodes() {
        let refused = cycle.filter(node);
        if refused.is_empty() {
            feasible.push(node);
        }
        for r in refused {
            *reasons.entry(r).or_insert(0) += 1;
        }
    }
    if feasible.is_empty() {
        return Err(FitError::Nodes { nodes, reasons });
    }
    if feasible.len() == 1 {
        return Ok(feasible[0].name().to_string());
    }
    let totals = scores::score(&cycle, &feasible);
    let best = totals.iter().copied().max().unwrap_or(0);
    let top: Vec<&NodeInfo> = feasible.iter().zip(&totals).filter(|(_, s)| **s == best).map(|(n, _)| *n).collect();
    Ok(top[turn % top.len()].name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, pod, with_labels};
    use k8s_openapi::api::core::v1::{Affinity, PodAffinityTerm, PodAntiAffinity, Taint, Toleration, TopologySpreadConstraint};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn place(cache: &mut Cache, p: &Pod) -> String {
        let node = schedule(p, cache, 0).unwrap();
        cache.assume(p, &node);
        node
    }

    #[test]
    fn resources_decide_and_the_message_counts_reasons() {
        let mut cache = Cache::default();
        cache.upsert_node(node("small", "1", "1Gi"));
        cache.upsert_node(node("big", "4", "8Gi"));
        assert_eq!(schedule(&pod("a", "2", "1Gi"), &cache, 0).unwrap(), "big");
        let mut labelled = node("other", "8", "16Gi");
        labelled.spec.get_or_insert_with(Default::default).taints = Some(vec![Taint { key: "dedicated".into(), value: Some("gpu".into()), effect: "NoSchedule".into(), ..Default::default() }]);
        cache.upsert_node(labelled);
        let err = schedule(&pod("b", "6", "1Gi"), &cache, 0).unwrap_err();
        assert_eq!(err.to_string(), "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu.");
        let mut tolerant = pod("c", "6", "1Gi");
        tolerant.spec.as_mut().unwrap().tolerations = Some(vec![Toleration { key: Some("dedicated".into()), operator: Some("Exists".into()), ..Default::default() }]);
        assert_eq!(schedule(&tolerant, &cache, 0).unwrap(), "other");
    }

    #[test]
    fn least_allocated_spreads_equal_pods() {
        let mut cache = Cache::default();
        for n in ["n1", "n2", "n3"] {
            cache.upsert_node(node(n, "4", "8Gi"));
        }
        let placed: Vec<String> = (0..6).map(|i| place(&mut cache, &pod(&format!("p{i}"), "500m", "512Mi"))).collect();
        for n in ["n1", "n2", "n3"] {
            assert_eq!(placed.iter().filter(|p| *p == n).count(), 2, "{placed:?}");
        }
    }

    #[test]
    fn node_selector_and_not_ready_nodes_filter() {
        let mut cache = Cache::default();
        cache.upsert_node(with_labels(node("ssd", "2", "2Gi"), &[("disk", "ssd")]));
        let mut down = with_labels(node("down", "2", "2Gi"), &[("disk", "ssd")]);
        down.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "False".into();
        cache.upsert_node(down);
        cache.upsert_node(node("plain", "2", "2Gi"));
        let mut p = pod("a", "100m", "10Mi");
        p.spec.as_mut().unwrap().node_selector = Some([("disk".to_string(), "ssd".to_string())].into());
        assert_eq!(schedule(&p, &cache, 0).unwrap(), "ssd");
        p.spec.as_mut().unwrap().node_selector = Some([("disk".to_string(), "nvme".to_string())].into());
        assert_eq!(
            schedule(&p, &cache, 0).unwrap_err().to_string(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 node(s) didn't match Pod's node affinity/selector."
        );
    }

    #[test]
    fn anti_affinity_keeps_replicas_apart_and_spread_limits_skew() {
        let mut cache = Cache::default();
        for n in ["n1", "n2"] {
            cache.upsert_node(with_labels(node(n, "8", "8Gi"), &[("kubernetes.io/hostname", n)]));
        }
        let selector = LabelSelector { match_labels: Some([("app".to_string(), "db".to_string())].into()), ..Default::default() };
        let replica = |name: &str| {
            let mut p = pod(name, "100m", "10Mi");
            p.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
            p.spec.as_mut().unwrap().affinity = Some(Affinity {
                pod_anti_affinity: Some(PodAntiAffinity {
                    required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm { label_selector: Some(selector.clone()), topology_key: "kubernetes.io/hostname".into(), ..Default::default() }]),
                    ..Default::default()
                }),
                ..Default::default()
            });
            p
        };
        let a = place(&mut cache, &replica("a"));
        let b = place(&mut cache, &replica("b"));
        assert_ne!(a, b);
        assert_eq!(
            schedule(&replica("c"), &cache, 0).unwrap_err().to_string(),
            "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
        );

        let mut spread_cache = Cache::default();
        for n in ["z1", "z2"] {
            spread_cache.upsert_node(with_labels(node(n, "8", "8Gi"), &[("zone", n)]));
        }
        let spread = |name: &str| {
            let mut p = pod(name, "100m", "10Mi");
            p.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
            p.spec.as_mut().unwrap().topology_spread_constraints = Some(vec![TopologySpreadConstraint { max_skew: 1, topology_key: "zone".into(), when_unsatisfiable: "DoNotSchedule".into(), label_selector: Some(selector.clone()), ..Default::default() }]);
            p
        };
        let mut per_zone = BTreeMap::new();
        for i in 0..6 {
            *per_zone.entry(place(&mut spread_cache, &spread(&format!("s{i}")))).or_insert(0) += 1;
        }
        assert_eq!(per_zone.values().copied().collect::<Vec<_>>(), vec![3, 3]);
    }

    #[test]
    fn host_ports_and_missing_claims() {
        use k8s_openapi::api::core::v1::{ContainerPort, PersistentVolumeClaimVolumeSource, Volume};
        let mut cache = Cache::default();
        cache.upsert_node(node("n1", "8", "8Gi"));
        let with_port = |name: &str| {
            let mut p = pod(name, "100m", "10Mi");
            p.spec.as_mut().unwrap().containers[0].ports = Some(vec![ContainerPort { container_port: 80, host_port: Some(8080), ..Default::default() }]);
            p
        };
        place(&mut cache, &with_port("a"));
        assert_eq!(
            schedule(&with_port("b"), &cache, 0).unwrap_err().to_string(),
            "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
        );
        let mut claimed = pod("c", "100m", "10Mi");
        claimed.spec.as_mut().unwrap().volumes = Some(vec![Volume { name: "data".into(), persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: "data".into(), read_only: None }), ..Default::default() }]);
        assert_eq!(schedule(&claimed, &cache, 0).unwrap_err().to_string(), "0/1 nodes are available: persistentvolumeclaim \"data\" not found.");
    }

    #[test]
    fn unbound_claims_wait_unless_their_class_waits_for_the_first_consumer() {
        use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Volume};
        use k8s_openapi::api::storage::v1::StorageClass;
        let mut cache = Cache::default();
        cache.upsert_node(node("n1", "8", "8Gi"));
        let claim = |class: &str| -> PersistentVolumeClaim {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "data", "namespace": "default"}, "spec": {"storageClassName": class}})).unwrap()
        };
        let mut claimed = pod("c", "100m", "10Mi");
        claimed.spec.as_mut().unwrap().volumes = Some(vec![Volume { name: "data".into(), persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: "data".into(), read_only: None }), ..Default::default() }]);
        cache.upsert_claim(claim("fast"));
        assert_eq!(schedule(&claimed, &cache, 0).unwrap_err().to_string(), "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.");
        let class: StorageClass = serde_json::from_value(serde_json::json!({"metadata": {"name": "local-path"}, "provisioner": "p", "volumeBindingMode": "WaitForFirstConsumer"})).unwrap();
        cache.upsert_class(class);
        cache.upsert_claim(claim("local-path"));
        assert_eq!(schedule(&claimed, &cache, 0).unwrap(), "n1");
    }
}
