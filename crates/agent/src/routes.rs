//! Routes to the pods of other nodes: each Node's `spec.podCIDR` through its InternalIP
//! when that address is directly reachable from here ([`tug_network::routes`]), kept
//! as Nodes come, change and go. Agents in network namespaces of their own on one
//! machine, or hosts on one network, reach each other's pods so.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use tug_network::routes;

use crate::Error;

/// A Node's pod range and address: (podCIDR, InternalIP), if it has both and is not this node.
fn target(node: &Node, own_ip: Ipv4Addr) -> Option<(String, Ipv4Addr)> {
    let cidr = node.spec.as_ref()?.pod_cidr.clone()?;
    let ip: Ipv4Addr = node
        .status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .find(|a| a.type_ == "InternalIP")?
        .address
        .parse()
        .ok()?;
    (ip != own_ip).then_some((cidr, ip))
}

/// Keeps the routes to other nodes' pod ranges until the Node watch ends.
pub async fn run(client: Client, own_name: String, own_ip: Ipv4Addr) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client);
    let mut events = std::pin::pin!(watcher::watcher(nodes, watcher::Config::default()).default_backoff());
    // Each node's last target, so its periodic status updates cost no route lookup.
    let mut seen: HashMap<String, Option<(String, Ipv4Addr)>> = HashMap::new();
    let mut routed: HashMap<String, (String, Ipv4Addr)> = HashMap::new();
    while let Some(event) = events.next().await {
        let (node, target) = match event {
            Ok(Event::Apply(node) | Event::InitApply(node)) => {
                let target = target(&node, own_ip);
                (node, target)
            }
            Ok(Event::Delete(node)) => (node, None),
            Ok(_) | Err(_) => continue,
        };
        let Some(name) = node.metadata.name.filter(|n| *n != own_name) else { continue };
        if seen.get(&name) == Some(&target) {
            continue;
        }
        seen.insert(name.clone(), target.clone());
        let want = target.filter(|(_, ip)| routes::directly_reachable(*ip));
        if let Some((cidr, via)) = routed.remove(&name) {
            routes::remove(&cidr, via);
        }
        if let Some((cidr, via)) = want {
            match routes::add(&cidr, via) {
                Ok(()) => {
                    routed.insert(name, (cidr, via));
                }
                Err(e) => eprintln!("tug agent: route to node {name}'s pods: {e}"),
            }
        }
    }
    Err(Error::Internal("the node watch ended".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_other_nodes_with_a_range_and_an_address_are_targets() {
        let node = |cidr: Option<&str>, ip: &str| -> Node {
            serde_json::from_value(json!({
                "metadata": {"name": "b"},
                "spec": {"podCIDR": cidr},
                "status": {"addresses": [{"type": "InternalIP", "address": ip}]}
            }))
            .unwrap()
        };
        let own = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(target(&node(Some("10.42.1.0/24"), "10.0.0.1"), own), None, "its own address");
        assert_eq!(target(&node(None, "10.0.0.2"), own), None, "no pod range");
        assert_eq!(target(&node(Some("10.42.1.0/24"), "not-an-ip"), own), None);
        assert_eq!(target(&node(Some("10.42.1.0/24"), "10.0.0.2"), own), Some(("10.42.1.0/24".into(), Ipv4Addr::new(10, 0, 0, 2))));
    }
}
