//! Nodes and pods for unit tests.

use k8s_openapi::api::core::v1::{Container, Node, NodeCondition, NodeStatus, Pod, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A Ready node with this much CPU and memory allocatable.
pub fn node(name: &str, cpu: &str, memory: &str) -> Node {
    let mut n = Node::default();
    n.metadata.name = Some(name.into());
    n.status = Some(NodeStatus {
        allocatable: Some([("cpu", cpu), ("memory", memory), ("pods", "110")].into_iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()),
        conditions: Some(vec![NodeCondition { type_: "Ready".into(), status: "True".into(), ..Default::default() }]),
        ..Default::default()
    });
    n
}

pub fn with_labels(mut n: Node, labels: &[(&str, &str)]) -> Node {
    n.metadata.labels = Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    n
}

/// A pending pod in `default` (uid = name) with one container requesting this much.
pub fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = Some(name.into());
    p.metadata.namespace = Some("default".into());
    p.metadata.uid = Some(name.into());
    p.spec = Some(PodSpec {
        containers: vec![Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: Some([("cpu", cpu), ("memory", memory)].into_iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    });
    p
}
