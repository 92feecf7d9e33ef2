//! The Node authorizer: what an agent (user `system:node:<name>` in group
//! `system:nodes`) may do. It reads nodes, pods, services and endpoints,
//! writes its own Node, Lease and the status of the pods bound to it, creates
//! events, and reads only the Secrets, ConfigMaps, PersistentVolumeClaims and
//! ServiceAccount tokens that the pods bound to its node use — a graph of
//! pod → node and pod → referenced objects kept from a watch on pods.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use serde_json::Value;
use tug_store::{KeyValue, Store};

use super::reflector::{self, Change};
use super::{Attributes, Authorizer, BoxFuture, Decision, Target};

/// The group every agent is in.
pub const NODES_GROUP: &str = "system:nodes";
/// Agents' user names are this prefix and the node name.
pub const NODE_USER_PREFIX: &str = "system:node:";

const PODS_PREFIX: &str = "/registry/core/pods/";

/// What one pod bound to a node uses.
#[derive(Debug, Default)]
struct PodRefs {
    node: String,
    namespace: String,
    name: String,
    /// ("secrets" | "configmaps" | "persistentvolumeclaims" | "serviceaccounts", name)
    uses: HashSet<(&'static str, String)>,
}

#[derive(Default)]
struct Graph {
    /// pod store key → what it uses.
    pods: HashMap<String, PodRefs>,
    /// node → pod store keys.
    by_node: HashMap<String, HashSet<String>>,
}

/// The Node authorizer and its graph.
pub struct NodeAuthorizer {
    graph: RwLock<Graph>,
}

impl NodeAuthorizer {
    /// Lists the pods in `store`, then keeps following them.
    pub async fn start(store: Arc<dyn Store>) -> tug_store::Result<Arc<NodeAuthorizer>> {
        let (kvs, revision) = reflector::list(store.as_ref(), PODS_PREFIX).await?;
        let authorizer = Arc::new(NodeAuthorizer {
            graph: RwLock::new(Graph::default()),
        });
        authorizer.apply(Change::Replace(kvs));
        let follower = authorizer.clone();
        reflector::follow(store, PODS_PREFIX.to_string(), revision, move |change, _| {
            follower.apply(change)
        });
        Ok(authorizer)
    }

    fn apply(&self, change: Change) {
        let mut graph = self.graph.write().unwrap_or_else(|e| e.into_inner());
        match change {
            Change::Replace(kvs) => {
                *graph = Graph::default();
                for kv in kvs {
                    graph.put(&kv);
                }
            }
            Change::Put(kv) => graph.put(&kv),
            Change::Delete(key) => graph.remove(&key),
        }
    }

    fn decide(&self, node: &str, attributes: &Attributes) -> Decision {
        let Target::Resource {
            group,
            resource,
            subresource,
            namespace,
            name,
        } = &attributes.target
        else {
            return Decision::NoOpinion;
        };
        let verb = attributes.verb.as_str();
        let read = matches!(verb, "get" | "list" | "watch");
        let own = name.as_deref() == Some(node);
        let no_relation = || {
            Decision::Deny(format!(
                "no relationship found between node '{node}' and this object"
            ))
        };
        let graph = self.graph.read().unwrap_or_else(|e| e.into_inner());
        let pod_on_node = |ns: &Option<String>, pod: &Option<String>| match (ns, pod) {
            (Some(ns), Some(pod)) => graph.pod_on_node(node, ns, pod),
            _ => false,
        };
        let uses = |kind: &'static str| match (namespace, name) {
            (Some(ns), Some(n)) => graph.node_uses(node, ns, kind, n),
            _ => false,
        };
        match (group.as_str(), resource.as_str(), subresource.as_deref()) {
            ("", "nodes", None) if read => Decision::Allow,
            // A create names no object in its URL: an agent registers its Node.
            ("", "nodes", None) if verb == "create" && name.is_none() => Decision::Allow,
            ("", "nodes", None | Some("status")) if matches!(verb, "update" | "patch") => {
                if own {
                    Decision::Allow
                } else {
                    Decision::Deny(format!("node '{node}' cannot modify node '{}'", name.as_deref().unwrap_or_default()))
                }
            }
            ("", "pods" | "services" | "endpoints", None) if read => Decision::Allow,
            ("discovery.k8s.io", "endpointslices", None) if read => Decision::Allow,
            ("", "pods", Some("status")) if matches!(verb, "get" | "update" | "patch") => {
                if pod_on_node(namespace, name) {
                    Decision::Allow
                } else {
                    no_relation()
                }
            }
            ("", "pods", None) if verb == "delete" => {
                if pod_on_node(namespace, name) {
                    Decision::Allow
                } else {
                    no_relation()
                }
            }
            // Delegated authentication and authorization of the agent's own endpoint, as kubelet's.
            ("authentication.k8s.io", "tokenreviews", None) | ("authorization.k8s.io", "subjectaccessreviews", None)
                if verb == "create" =>
            {
                Decision::Allow
            }
            ("", "events", None) | ("events.k8s.io", "events", None)
                if matches!(verb, "create" | "update" | "patch") =>
            {
                Decision::Allow
            }
            ("coordination.k8s.io", "leases", None) => {
                if namespace.as_deref() == Some("kube-node-lease")
                    && (own || (verb == "create" && name.is_none()))
                {
                    Decision::Allow
                } else {
                    Decision::Deny(format!("node '{node}' may only use its own Lease in kube-node-lease"))
                }
            }
            ("", kind @ ("secrets" | "configmaps" | "persistentvolumeclaims"), None) => {
                let kind: &'static str = match kind {
                    "secrets" => "secrets",
                    "configmaps" => "configmaps",
                    _ => "persistentvolumeclaims",
                };
                if verb == "get" && uses(kind) {
                    Decision::Allow
                } else {
                    no_relation()
                }
            }
            ("", "serviceaccounts", Some("token")) => {
                if verb == "create" && uses("serviceaccounts") {
                    Decision::Allow
                } else {
                    no_relation()
                }
            }
            _ => Decision::NoOpinion,
        }
    }
}

/// The node an agent user speaks for: `system:node:<name>` in group `system:nodes`.
pub fn node_of(attributes: &Attributes) -> Option<&str> {
    let user = &attributes.user;
    if !user.groups.iter().any(|g| g == NODES_GROUP) {
        return None;
    }
    user.name
        .strip_prefix(NODE_USER_PREFIX)
        .filter(|n| !n.is_empty())
}

impl Authorizer for NodeAuthorizer {
    fn authorize<'a>(&'a self, attributes: &'a Attributes) -> BoxFuture<'a, Decision> {
        let decision = match node_of(attributes) {
            Some(node) => self.decide(node, attributes),
            None => Decision::NoOpinion,
        };
        Box::pin(async move { decision })
    }
}

impl Graph {
    fn put(&mut self, kv: &KeyValue) {
        self.remove(&kv.key);
        let Ok(pod) = serde_json::from_slice::<Value>(&kv.value) else {
            return;
        };
        let Some(node) = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            return;
        };
        let text = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        let mut refs = PodRefs {
            node: node.to_string(),
            namespace: text(&pod, "/metadata/namespace").unwrap_or_default(),
            name: text(&pod, "/metadata/name").unwrap_or_default(),
            uses: HashSet::new(),
        };
        let sa = text(&pod, "/spec/serviceAccountName").unwrap_or_else(|| "default".into());
        refs.uses.insert(("serviceaccounts", sa));
        let spec = pod.get("spec").cloned().unwrap_or_default();
        let list = |v: &Value, p: &str| -> Vec<Value> {
            v.pointer(p).and_then(Value::as_array).cloned().unwrap_or_default()
        };
        for secret in list(&spec, "/imagePullSecrets") {
            refs.uses.extend(text(&secret, "/name").map(|n| ("secrets", n)));
        }
        for volume in list(&spec, "/volumes") {
            refs.uses.extend(text(&volume, "/secret/secretName").map(|n| ("secrets", n)));
            refs.uses.extend(text(&volume, "/configMap/name").map(|n| ("configmaps", n)));
            refs.uses.extend(
                text(&volume, "/persistentVolumeClaim/claimName")
                    .map(|n| ("persistentvolumeclaims", n)),
            );
            for source in list(&volume, "/projected/sources") {
                refs.uses.extend(text(&source, "/secret/name").map(|n| ("secrets", n)));
                refs.uses.extend(text(&source, "/configMap/name").map(|n| ("configmaps", n)));
            }
        }
        let containers = ["/containers", "/initContainers", "/ephemeralContainers"]
            .iter()
            .flat_map(|p| list(&spec, p));
        for container in containers {
            for env in list(&container, "/env") {
                refs.uses.extend(
                    text(&env, "/valueFrom/secretKeyRef/name").map(|n| ("secrets", n)),
                );
                refs.uses.extend(
                    text(&env, "/valueFrom/configMapKeyRef/name").map(|n| ("configmaps", n)),
                );
            }
            for from in list(&container, "/envFrom") {
                refs.uses.extend(text(&from, "/secretRef/name").map(|n| ("secrets", n)));
                refs.uses.extend(text(&from, "/configMapRef/name").map(|n| ("configmaps", n)));
            }
        }
        self.by_node
            .entry(refs.node.clone())
            .or_default()
            .insert(kv.key.clone());
        self.pods.insert(kv.key.clone(), refs);
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.pods.remove(key) {
            if let Some(keys) = self.by_node.get_mut(&old.node) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_node.remove(&old.node);
                }
            }
        }
    }

    fn on_node<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a PodRefs> + 'a {
        self.by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|k| self.pods.get(k))
    }

    fn pod_on_node(&self, node: &str, namespace: &str, pod: &str) -> bool {
        self.on_node(node)
            .any(|p| p.namespace == namespace && p.name == pod)
    }

    fn node_uses(&self, node: &str, namespace: &str, kind: &'static str, name: &str) -> bool {
        self.on_node(node)
            .any(|p| p.namespace == namespace && p.uses.contains(&(kind, name.to_string())))
    }
}
