//! The scheduler's picture of the cluster: nodes with the pods bound to them
//! (including pods it has just bound itself and not yet seen back, "assumed"),
//! namespaces' labels, and the volume claims pods refer to. Kept current from
//! watch events, so a scheduling cycle never waits on the API.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;

use crate::resources::{self, Resources};
use crate::selectors::Labels;

/// A node and what is already placed on it.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// `None` while pods name a node the scheduler has not seen yet.
    pub node: Option<Arc<Node>>,
    pub allocatable: Resources,
    pub max_pods: i64,
    /// The sum of the requests of the pods on the node.
    pub requested: Resources,
    /// The same with scoring's defaults for pods that request nothing.
    pub requested_for_scoring: Resources,
    /// The pods on the node, by uid.
    pub pods: HashMap<String, Arc<Pod>>,
    /// How many of them have required anti-affinity terms (which other pods must respect).
    pub with_anti_affinity: usize,
}

/// Whether a pod has required anti-affinity terms.
pub fn has_required_anti_affinity(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
        .is_some_and(|terms| !terms.is_empty())
}

impl NodeInfo {
    pub fn name(&self) -> &str {
        self.node
            .as_ref()
            .and_then(|n| n.metadata.name.as_deref())
            .unwrap_or_default()
    }

    pub fn labels(&self) -> Option<&Labels> {
        self.node.as_ref().and_then(|n| n.metadata.labels.as_ref())
    }

    /// The node's value of a topology label.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels().and_then(|l| l.get(key)).map(String::as_str)
    }

    fn add_pod(&mut self, uid: String, pod: Arc<Pod>) {
        self.requested = self.requested.plus(&resources::pod_requests(&pod));
        self.requested_for_scoring = self
            .requested_for_scoring
            .plus(&resources::pod_requests_for_scoring(&pod));
        self.with_anti_affinity += usize::from(has_required_anti_affinity(&pod));
        self.pods.insert(uid, pod);
    }

    fn remove_pod(&mut self, uid: &str) {
        if let Some(pod) = self.pods.remove(uid) {
            self.requested.sub(&resources::pod_requests(&pod));
            self.requested_for_scoring
                .sub(&resources::pod_requests_for_scoring(&pod));
            self.with_anti_affinity -= usize::from(has_required_anti_affinity(&pod));
        }
    }
}

/// The cluster as the scheduler sees it.
#[derive(Debug, Default)]
pub struct Cache {
    nodes: BTreeMap<String, NodeInfo>,
    /// Which node each placed pod is on, by uid.
    placed: HashMap<String, String>,
    namespaces: HashMap<String, Labels>,
    claims: HashMap<(String, String), Arc<PersistentVolumeClaim>>,
    volumes: HashMap<String, Arc<PersistentVolume>>,
    /// StorageClasses that delay binding until a pod is scheduled (`WaitForFirstConsumer`).
    delayed_classes: HashSet<String>,
}

/// A pod's uid, the cache's key for it.
pub fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        )
    })
}

/// Whether a pod has finished and no longer holds resources.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

impl Cache {
    /// Nodes that exist, in name order.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values().filter(|n| n.node.is_some())
    }

    pub fn node_count(&self) -> usize {
        self.nodes().count()
    }

    pub fn upsert_node(&mut self, node: Node) {
        let Some(name) = node.metadata.name.clone() else {
            return;
        };
        let (allocatable, max_pods) = resources::node_allocatable(&node);
        let info = self.nodes.entry(name).or_default();
        info.allocatable = allocatable;
        info.max_pods = max_pods;
        info.node = Some(Arc::new(node));
    }

    pub fn remove_node(&mut self, name: &str) {
        if let Some(info) = self.nodes.get_mut(name) {
            info.node = None;
            if info.pods.is_empty() {
                self.nodes.remove(name);
            }
        }
    }

    /// Records a pod as the API reports it: placed if bound and running, forgotten otherwise.
    pub fn upsert_pod(&mut self, pod: Pod) {
        let uid = uid(&pod);
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty());
        self.remove_pod(&uid);
        if let Some(node) = node.filter(|_| !is_terminal(&pod)) {
            self.placed.insert(uid.clone(), node.clone());
            self.nodes.entry(node).or_default().add_pod(uid, Arc::new(pod));
        }
    }

    pub fn remove_pod(&mut self, uid: &str) {
        if let Some(node) = self.placed.remove(uid) {
            if let Some(info) = self.nodes.get_mut(&node) {
                info.remove_pod(uid);
                if info.node.is_none() && info.pods.is_empty() {
                    self.nodes.remove(&node);
                }
            }
        }
    }

    /// Places a pod on `node` before the API confirms the binding, so the next cycles count it.
    pub fn assume(&mut self, pod: &Pod, node: &str) {
        let mut pod = pod.clone();
        pod.spec.get_or_insert_with(Default::default).node_name = Some(node.to_string());
        self.upsert_pod(pod);
    }

    /// Whether a pod is placed on some node (bound, or assumed).
    pub fn is_placed(&self, uid: &str) -> bool {
        self.placed.contains_key(uid)
    }

    pub fn set_namespace(&mut self, name: String, labels: Labels) {
        self.namespaces.insert(name, labels);
    }

    pub fn remove_namespace(&mut self, name: &str) {
        self.namespaces.remove(name);
    }

    /// Every namespace with its labels.
    pub fn namespaces(&self) -> impl Iterator<Item = (&String, &Labels)> {
        self.namespaces.iter()
    }

    pub fn upsert_claim(&mut self, claim: PersistentVolumeClaim) {
        let key = (
            claim.metadata.namespace.clone().unwrap_or_default(),
            claim.metadata.name.clone().unwrap_or_default(),
        );
        self.claims.insert(key, Arc::new(claim));
    }

    pub fn remove_claim(&mut self, namespace: &str, name: &str) {
        self.claims.remove(&(namespace.to_string(), name.to_string()));
    }

    pub fn claim(&self, namespace: &str, name: &str) -> Option<&PersistentVolumeClaim> {
        self.claims
            .get(&(namespace.to_string(), name.to_string()))
            .map(Arc::as_ref)
    }

    pub fn upsert_volume(&mut self, volume: PersistentVolume) {
        if let Some(name) = volume.metadata.name.clone() {
            self.volumes.insert(name, Arc::new(volume));
        }
    }

    pub fn remove_volume(&mut self, name: &str) {
        self.volumes.remove(name);
    }

    pub fn volume(&self, name: &str) -> Option<&PersistentVolume> {
        self.volumes.get(name).map(Arc::as_ref)
    }

    pub fn upsert_class(&mut self, class: StorageClass) {
        let name = class.metadata.name.clone().unwrap_or_default();
        if class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer") {
            self.delayed_classes.insert(name);
        } else {
            self.delayed_classes.remove(&name);
        }
    }

    pub fn remove_class(&mut self, name: &str) {
        self.delayed_classes.remove(name);
    }

    /// Whether an unbound claim waits for its first consumer to be scheduled.
    pub fn binding_delayed(&self, claim: &PersistentVolumeClaim) -> bool {
        let class = claim.spec.as_ref().and_then(|s| s.storage_class_name.as_deref()).unwrap_or_default();
        self.delayed_classes.contains(class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, pod};

    #[test]
    fn pods_count_on_their_node_until_they_end() {
        let mut cache = Cache::default();
        cache.upsert_node(node("n1", "4", "8Gi"));
        let mut p = pod("a", "500m", "1Gi");
        cache.assume(&p, "n1");
        let info = cache.nodes().next().unwrap();
        assert_eq!((info.requested.milli_cpu, info.requested.memory), (500, 1 << 30));
        // The watch then reports it bound: counted once, not twice.
        p.spec.as_mut().unwrap().node_name = Some("n1".into());
        cache.upsert_pod(p.clone());
        assert_eq!(cache.nodes().next().unwrap().requested.milli_cpu, 500);
        p.status = Some(k8s_openapi::api::core::v1::PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
        cache.upsert_pod(p);
        assert_eq!(cache.nodes().next().unwrap().requested.milli_cpu, 0);
        assert!(!cache.is_placed("a"));
    }

    #[test]
    fn pods_on_unknown_nodes_wait_for_them() {
        let mut cache = Cache::default();
        let mut p = pod("a", "1", "1Gi");
        p.spec.as_mut().unwrap().node_name = Some("later".into());
        cache.upsert_pod(p);
        assert_eq!(cache.node_count(), 0);
        cache.upsert_node(node("later", "2", "2Gi"));
        assert_eq!(cache.nodes().next().unwrap().requested.milli_cpu, 1000);
        cache.remove_node("later");
        assert_eq!(cache.node_count(), 0);
        cache.remove_pod("a");
        assert!(cache.nodes.is_empty());
    }
}
