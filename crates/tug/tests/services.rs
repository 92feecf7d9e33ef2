//! Services on a real node: two busybox httpd pods behind a Service, reached through the
//! agent's nftables service proxy from another pod and from the host (cluster IP, node
//! port on 127.0.0.1 and on the node's address, the LoadBalancer's announced address);
//! the Endpoints controller drops a deleted pod and the proxy stops sending to it. Needs
//! root and the `nft` tool (apt nftables). The cluster guard removes the proxy's table.

use std::collections::BTreeSet;

use serde_json::Value;
use tug_testkit::{try_get, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

/// Two web pods answering with their own name, a ClusterIP Service and a LoadBalancer one.
const WEB: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-lb}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 18080, targetPort: http, nodePort: 31080}]
"#;

fn has_nft() -> bool {
    let found = std::process::Command::new("nft").arg("--version").output().is_ok();
    if !found {
        assert!(std::env::var_os("CI").is_none(), "service tests need nft (apt nftables) in CI");
        eprintln!("skipping: service tests need nft");
    }
    found
}

/// The names answering `GET /` at `ip:port` over `tries` requests.
fn answers(ip: &str, port: u16, tries: usize) -> BTreeSet<String> {
    (0..tries).filter_map(|_| try_get(ip, port, "/")).collect()
}

/// The ready addresses of the Endpoints `name`.
fn ready_ips(cluster: &Cluster, name: &str) -> BTreeSet<String> {
    let out = cluster.kubectl_output(&["get", "endpoints", name, "-o", "json"]);
    let ep: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["ip"].as_str().map(str::to_string))
        .collect()
}

/// What a pod's container printed so far (its CRI log, first attempt).
fn pod_output(cluster: &Cluster, pod: &str, container: &str) -> String {
    let uid = cluster.pod(pod)["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    let log = cluster.dir().join("agent/pods").join(uid).join("logs").join(container).join("0.log");
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn services_balance_over_ready_pods_from_pods_and_from_the_host() {
    if !tug_testkit::can_run_pods() || !has_nft() {
        return;
    }
    let cluster = Cluster::up(TUG);
    cluster.apply(WEB);
    let ip_of = |pod: &str| cluster.pod(pod)["status"]["podIP"].as_str().unwrap_or_default().to_string();
    cluster.eventually("both web pods are in the Endpoints", 60, || {
        let ips = ready_ips(&cluster, "web");
        ips.len() == 2 && ips.contains(&ip_of("web-1")) && ips.contains(&ip_of("web-2"))
    });
    let svc = cluster.get("service", "web");
    let cluster_ip = svc["spec"]["clusterIP"].as_str().expect("clusterIP").to_string();
    let both: BTreeSet<String> = ["web-1".to_string(), "web-2".to_string()].into();

    // From the node itself: the cluster IP balances over both pods.
    cluster.eventually("the cluster IP answers from both pods", 30, || answers(&cluster_ip, 80, 20) == both);

    // From a pod.
    let client = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: client}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: wget\n    image: busybox:latest\n    imagePullPolicy: Never\n    command: [sh, -c, 'while true; do wget -qO- http://{cluster_ip}/ || echo failed; sleep 0.1; done']\n"
    );
    cluster.apply(&client);
    cluster.eventually("the client pod reaches both pods through the cluster IP", 60, || {
        let out = pod_output(&cluster, "client", "wget");
        out.contains("web-1") && out.contains("web-2")
    });

    // The LoadBalancer Service: the node's address is announced, node port and LB port answer
    // on 127.0.0.1 and on that address.
    cluster.eventually("the load balancer address is announced", 30, || {
        cluster.get("service", "web-lb")["status"]["loadBalancer"]["ingress"][0]["ip"].is_string()
    });
    let lb = cluster.get("service", "web-lb");
    let node_ip = lb["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().expect("ingress ip").to_string();
    for (ip, port) in [("127.0.0.1", 31080), (node_ip.as_str(), 31080), (node_ip.as_str(), 18080), ("127.0.0.1", 18080)] {
        cluster.eventually(&format!("{ip}:{port} answers from both pods"), 30, || answers(ip, port, 20) == both);
    }

    // A deleted pod leaves the Endpoints and gets no more traffic.
    cluster.kubectl(&["delete", "pod", "web-2", "--wait=false"]);
    cluster.eventually("web-2 left the Endpoints", 30, || ready_ips(&cluster, "web").len() == 1);
    let only: BTreeSet<String> = ["web-1".to_string()].into();
    cluster.eventually("only web-1 answers", 30, || answers(&cluster_ip, 80, 10) == only);
    assert_eq!(answers("127.0.0.1", 31080, 10), only);
}
