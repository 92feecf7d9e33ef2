//! Two nodes on one machine: `tug up` and a second agent that joins with the server's
//! bootstrap token (`tug agent --server --token --certificate-authority`), each with its
//! own bridge and pod CIDR. The scheduler places pods on both by nodeSelector, taints and
//! anti-affinity; a pod on one node reaches a pod on the other by pod IP; a hostPort is
//! published on the node and a hostNetwork pod serves on the node's own network; logs and
//! exec reach the joined node through the API server; a pod deleted while its agent was
//! down is cleaned up when the agent is back. A node in a network namespace of its
//! own (as another host on the network) is reached through the route its agent's peers
//! add to its pod CIDR. Needs root (see `pods.rs`).

use tug_testkit::{http_get, Cluster, NETNS_UP_ARGS};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: server, labels: {app: spread}}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {kubernetes.io/hostname: second}
  tolerations: [{key: dedicated, operator: Equal, value: second, effect: NoSchedule}]
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir /www; hostname > /www/index.html; exec httpd -f -v -p 80 -h /www']
    ports: [{containerPort: 80, hostPort: 18480}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: spread}}
spec:
  terminationGracePeriodSeconds: 1
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - {labelSelector: {matchLabels: {app: spread}}, topologyKey: kubernetes.io/hostname}
  containers: [{name: c, image: busybox:latest, imagePullPolicy: Never, command: [sleep, '3600']}]
---
apiVersion: v1
kind: Pod
metadata: {name: onhost}
spec:
  terminationGracePeriodSeconds: 1
  hostNetwork: true
  nodeSelector: {kubernetes.io/hostname: second}
  tolerations: [{key: dedicated, operator: Exists}]
  containers: [{name: c, image: busybox:latest, imagePullPolicy: Never, command: [sh, -c, 'mkdir /www; echo on the node > /www/index.html; exec httpd -f -p 18481 -h /www']}]
"#;

#[test]
fn pods_on_two_nodes_reach_each_other() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let mut cluster = Cluster::up(TUG);
    cluster.join_agent("second");
    // Only pods that tolerate the taint go to the second node.
    cluster.kubectl(&["taint", "node", "second", "dedicated=second:NoSchedule"]);
    cluster.apply(PODS);
    cluster.kubectl(&["wait", "--for=condition=Ready", "pod/server", "pod/client", "pod/onhost", "--timeout=60s"]);
    let server = cluster.pod("server");
    let client = cluster.pod("client");
    assert_eq!(server["spec"]["nodeName"], "second");
    assert_ne!(client["spec"]["nodeName"], "second", "the taint and the anti-affinity keep client off the second node");
    let (server_ip, client_ip) = (server["status"]["podIP"].as_str().unwrap(), client["status"]["podIP"].as_str().unwrap());
    let prefix = |ip: &str| ip.rsplit_once('.').map(|(p, _)| p.to_string()).unwrap_or_default();
    assert_ne!(prefix(server_ip), prefix(client_ip), "each node allocates from its own pod CIDR");

    // Across nodes by pod IP, and back through the API server to the joined node's agent.
    let fetched = cluster.kubectl(&["exec", "client", "--", "wget", "-qO-", &format!("http://{server_ip}/")]);
    assert_eq!(fetched, "server\n");
    cluster.eventually("the server logged the request", 10, || cluster.kubectl(&["logs", "server"]).contains(client_ip));

    // hostPort and hostNetwork on the node's own addresses.
    assert_eq!(http_get("127.0.0.1", 18480, "/"), "server");
    assert_eq!(http_get("127.0.0.1", 18481, "/"), "on the node");

    // A pod deleted while its node's agent is down: the agent, back, finds what is left
    // of it (containers, sandbox, files) and removes it.
    let uid = server["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    let pod_dir = cluster.dir().join("agents/second/agent/pods").join(&uid);
    let sandbox: serde_json::Value = serde_json::from_slice(&std::fs::read(pod_dir.join("sandbox.json")).expect("sandbox.json")).expect("sandbox record");
    let sandbox = sandbox["pid"].as_i64().expect("sandbox pid");
    cluster.stop_agents();
    cluster.kubectl(&["delete", "pod", "server", "--grace-period=0", "--force"]);
    cluster.join_agent("second");
    cluster.eventually("the deleted pod's directory is removed", 30, || !pod_dir.exists());
    cluster.eventually("the deleted pod's processes end", 10, || {
        let processes = cluster.own_processes();
        !processes.contains(&(sandbox as i32))
            && processes.iter().all(|pid| !std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(&uid)))
    });
    cluster.kubectl(&["delete", "pods", "--all", "--timeout=60s"]);
    assert!(tug_testkit::try_get("127.0.0.1", 18480, "/").is_none(), "the hostPort is released with its pod");
}

const REMOTE_PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: server}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {kubernetes.io/hostname: remote}
  tolerations: [{key: dedicated, operator: Exists}]
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir /www; hostname > /www/index.html; exec httpd -f -v -p 80 -h /www']
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir /www; hostname > /www/index.html; exec httpd -f -p 80 -h /www']
"#;

#[test]
fn a_node_in_its_own_network_namespace_is_reached_by_routes() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let mut cluster = Cluster::up_with(TUG, &NETNS_UP_ARGS);
    cluster.join_agent_in_netns("remote");
    cluster.kubectl(&["taint", "node", "remote", "dedicated=remote:NoSchedule"]);
    cluster.apply(REMOTE_PODS);
    cluster.kubectl(&["wait", "--for=condition=Ready", "pod/server", "pod/client", "--timeout=60s"]);
    let server = cluster.pod("server");
    let client = cluster.pod("client");
    assert_eq!(server["spec"]["nodeName"], "remote");
    let (server_ip, client_ip) = (server["status"]["podIP"].as_str().unwrap(), client["status"]["podIP"].as_str().unwrap());

    // This node's agent routes the remote node's pod CIDR through the remote node's address.
    let cidr = cluster.get("node", "remote")["spec"]["podCIDR"].as_str().unwrap_or_default().to_string();
    cluster.eventually("the route to the remote node's pods", 10, || {
        let out = std::process::Command::new("ip").args(["route", "show", &cidr]).output().expect("ip runs");
        String::from_utf8_lossy(&out.stdout).contains("via 10.99.1.2")
    });
    // Pod to pod both ways, the host to the remote pod, and the API server to the remote agent.
    assert_eq!(cluster.kubectl(&["exec", "client", "--", "wget", "-qO-", &format!("http://{server_ip}/")]), "server\n");
    assert_eq!(cluster.kubectl(&["exec", "server", "--", "wget", "-qO-", &format!("http://{client_ip}/")]), "client\n");
    assert_eq!(http_get(server_ip, 80, "/"), "server");
    cluster.eventually("the server logged the request", 10, || cluster.kubectl(&["logs", "server"]).contains(client_ip));
    cluster.kubectl(&["delete", "pods", "--all", "--timeout=60s"]);
}
