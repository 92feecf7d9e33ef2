//! The agent against a real API server (in-process, on loopback, over a temporary
//! SQLite store): the Node it registers, its pod CIDR, status and Lease.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;

async fn api_server(dir: &std::path::Path) -> Client {
    let store = tug_store::SqliteStore::open(dir.join("db")).expect("store");
    let server = tug_apiserver::start(tug_apiserver::Config::new(
        dir,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        Arc::new(store),
    ))
    .await
    .expect("server starts");
    let kubeconfig = Kubeconfig::read_from(server.kubeconfig()).expect("kubeconfig");
    tokio::spawn(server.wait());
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("config");
    Client::try_from(config).expect("client")
}

async fn wait_ready(nodes: &Api<Node>, name: &str) -> Node {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(node) = nodes.get(name).await {
            let ready = node.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if ready {
                return node;
            }
        }
        assert!(Instant::now() < deadline, "node {name} did not become Ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_register_ready_nodes_with_distinct_pod_cidrs_and_leases() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = api_server(dir.path()).await;
    let mut agents = Vec::new();
    for name in ["node-a", "node-b"] {
        let mut options = tug_agent::Options::new(dir.path().join(name));
        options.node_name = name.into();
        options.image_dir = dir.path().join("image");
        agents.push(tokio::spawn(tug_agent::run(client.clone(), options)));
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let a = wait_ready(&nodes, "node-a").await;
    let b = wait_ready(&nodes, "node-b").await;

    let cidr = |n: &Node| n.spec.as_ref().and_then(|s| s.pod_cidr.clone()).expect("podCIDR");
    assert!(cidr(&a).starts_with("10.42.") && cidr(&a).ends_with(".0/24"), "{}", cidr(&a));
    assert_ne!(cidr(&a), cidr(&b));

    let status = a.status.clone().expect("status");
    let capacity = status.capacity.expect("capacity");
    for resource in ["cpu", "memory", "pods", "ephemeral-storage"] {
        assert!(capacity.contains_key(resource), "capacity lacks {resource}");
    }
    assert_eq!(capacity["pods"].0, "110");
    let types: Vec<_> = status.conditions.expect("conditions").into_iter().map(|c| c.type_).collect();
    assert_eq!(types, ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]);
    let info = status.node_info.expect("nodeInfo");
    assert_eq!(info.operating_system, "linux");
    assert!(!info.kernel_version.is_empty());
    assert!(status.addresses.expect("addresses").iter().any(|a| a.type_ == "InternalIP"));

    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = leases.get("node-a").await.expect("lease");
    let spec = lease.spec.expect("lease spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("node-a"));
    assert!(spec.renew_time.is_some());

    // A restarted agent adopts its Node: same uid, same range.
    agents.remove(0).abort();
    let mut options = tug_agent::Options::new(dir.path().join("node-a"));
    options.node_name = "node-a".into();
    options.image_dir = dir.path().join("image");
    let again = tokio::spawn(tug_agent::run(client.clone(), options));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a2 = wait_ready(&nodes, "node-a").await;
    assert_eq!(a2.metadata.uid, a.metadata.uid);
    assert_eq!(cidr(&a2), cidr(&a));
    again.abort();
    for agent in agents {
        agent.abort();
    }
    // Each agent made its node's bridge.
    for (name, node) in [("node-a", &a), ("node-b", &b)] {
        let net = tug_network::Network::new(name, &cidr(node), dir.path()).expect("network");
        assert!(std::path::Path::new("/sys/class/net").join(&net.bridge).exists(), "bridge {} of {name}", net.bridge);
        net.remove_bridge();
    }
    // And loaded the service proxy's rules.
    tug_network::proxy::remove().expect("remove the service proxy's table");
}
