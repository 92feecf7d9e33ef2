//! Services on a real node: two busybox httpd pods behind a Service, reached through the
//! agent's nftables service proxy from another pod by DNS name and from the host (cluster
//! IP, node port on 127.0.0.1 and on the node's address, the LoadBalancer's announced
//! address); the Endpoints controller drops a deleted pod and the proxy stops sending to
//! it. Cluster DNS: a headless Service's pods by their stable names, SRV for named ports,
//! NXDOMAIN outside the cluster, asked with `dig` on the host and busybox in a pod. Needs
//! root, `nft` (apt nftables) and `dig` (apt dnsutils). The cluster guard removes the
//! proxy's table.

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
  ports: [{name: http, port: 18080, targetPort: http}]
"#;

const CLIENT: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: wget
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'while true; do wget -qO- http://web.default.svc.cluster.local/ || echo failed; sleep 0.1; done']
"#;

/// A headless Service over two pods with stable names (as a StatefulSet makes them), and a
/// pod that looks them up with busybox's nslookup through its resolv.conf (busybox applies
/// the search path to single-label names only).
const HEADLESS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, labels: {app: db}}
spec:
  hostname: db-0
  subdomain: db
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox:latest, imagePullPolicy: Never, command: [sleep, '3600']}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, labels: {app: db}}
spec:
  hostname: db-1
  subdomain: db
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox:latest, imagePullPolicy: Never, command: [sleep, '3600']}]
---
apiVersion: v1
kind: Pod
metadata: {name: lookup}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'cat /etc/resolv.conf; while true; do nslookup db-1.db.default.svc.cluster.local; nslookup db; nslookup example.com; sleep 1; done']
"#;

/// Whether the tools these tests drive exist (skips outside CI when not).
fn has_tools() -> bool {
    let found = ["nft", "dig"].iter().all(|t| std::process::Command::new(t).arg("-v").output().is_ok());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "service tests need nft and dig (apt nftables dnsutils) in CI");
        eprintln!("skipping: service tests need nft and dig");
    }
    found
}

/// `dig +short` against the cluster DNS (through its Service address): the answer lines,
/// or the status word (`NXDOMAIN`) when there are none.
fn dig(name: &str, qtype: &str) -> Vec<String> {
    let out = std::process::Command::new("dig")
        .args(["@10.43.0.10", "+tries=1", "+time=2", name, qtype])
        .output()
        .expect("dig runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let status = text.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("no answer").to_string();
    let mut answers: Vec<String> = text
        .split(";; ANSWER SECTION:\n")
        .nth(1)
        .map(|a| a.split("\n\n").next().unwrap_or_default().lines().filter_map(|l| l.split_whitespace().last()).map(str::to_string).collect())
        .unwrap_or_default();
    answers.sort();
    if answers.is_empty() {
        vec![status]
    } else {
        answers
    }
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
    if !tug_testkit::can_run_pods() || !has_tools() {
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
    // From a pod, by the Service's DNS name.
    cluster.apply(CLIENT);
    cluster.eventually("the client pod reaches both pods by the Service's name", 60, || {
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
    let node_port = lb["spec"]["ports"][0]["nodePort"].as_u64().expect("an allocated node port") as u16;
    for (ip, port) in [("127.0.0.1", node_port), (node_ip.as_str(), node_port), (node_ip.as_str(), 18080), ("127.0.0.1", 18080)] {
        cluster.eventually(&format!("{ip}:{port} answers from both pods"), 30, || answers(ip, port, 20) == both);
    }

    // A deleted pod leaves the Endpoints and gets no more traffic.
    cluster.kubectl(&["delete", "pod", "web-2", "--wait=false"]);
    cluster.eventually("web-2 left the Endpoints", 30, || ready_ips(&cluster, "web").len() == 1);
    let only: BTreeSet<String> = ["web-1".to_string()].into();
    cluster.eventually("only web-1 answers", 30, || answers(&cluster_ip, 80, 10) == only);
    assert_eq!(answers("127.0.0.1", node_port, 10), only);
}

#[test]
fn cluster_dns_names_services_headless_pods_and_nothing_outside() {
    if !tug_testkit::can_run_pods() || !has_tools() {
        return;
    }
    let cluster = Cluster::up(TUG);
    cluster.apply(HEADLESS);
    let ip_of = |pod: &str| cluster.pod(pod)["status"]["podIP"].as_str().unwrap_or_default().to_string();
    cluster.eventually("both db pods are in the Endpoints", 60, || ready_ips(&cluster, "db").len() == 2);
    let (db0, db1) = (ip_of("db-0"), ip_of("db-1"));
    let mut both = vec![db0.clone(), db1.clone()];
    both.sort();

    // From the host, through the kube-dns Service.
    cluster.eventually("the headless Service resolves to its pods", 30, || dig("db.default.svc.cluster.local", "A") == both);
    assert_eq!(dig("db-0.db.default.svc.cluster.local", "A"), [db0.clone()]);
    assert_eq!(dig("_pg._tcp.db.default.svc.cluster.local", "SRV"), ["db-0.db.default.svc.cluster.local.", "db-1.db.default.svc.cluster.local."]);
    let kube_dns = cluster.kubectl(&["get", "service", "kube-dns", "-n", "kube-system", "-o", "jsonpath={.spec.clusterIP}"]);
    assert_eq!(kube_dns, "10.43.0.10");
    assert_eq!(dig("kube-dns.kube-system.svc.cluster.local", "A"), ["10.43.0.10"]);
    for outside in ["example.com", "missing.default.svc.cluster.local", "db-9.db.default.svc.cluster.local"] {
        assert_eq!(dig(outside, "A"), ["NXDOMAIN"], "{outside}");
    }

    // From a pod: its resolv.conf names the cluster DNS and searches the namespace.
    let resolved = |out: &str| {
        out.contains("search default.svc.cluster.local svc.cluster.local cluster.local")
            && out.contains(&format!("Name:\tdb-1.db.default.svc.cluster.local\nAddress: {db1}"))
            && out.contains(&format!("Name:\tdb.default.svc.cluster.local\nAddress: {}", both[0]))
            && out.contains("can't find example.com: NXDOMAIN")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let output = || pod_output(&cluster, "lookup", "c").lines().filter_map(|l| l.splitn(4, ' ').nth(3)).collect::<Vec<_>>().join("\n");
    let mut out = output();
    while !resolved(&out) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(500));
        out = output();
    }
    assert!(resolved(&out), "the pod did not resolve db-1.db (or example.com did resolve):\n{out}");
}
