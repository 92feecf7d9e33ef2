//! Service proxy rules in the kernel's packet filter, as kube-proxy's nftables mode
//! writes them: one table (`ip tug`) replaced atomically on every sync (`nft -f`, one
//! transaction), holding
//!
//! - a verdict map from (cluster IP, protocol, port) to a chain per service port, and one
//!   from (protocol, port) for node ports and load-balancer ports, matched only for
//!   packets to one of this host's own addresses (`fib daddr type local`), 127.0.0.1
//!   included;
//! - per service port a chain that picks an endpoint with `numgen random` (or the one a
//!   client was sent to before, with `sessionAffinity: ClientIP`: a set per endpoint of
//!   client addresses with a timeout, named for the service port and the endpoint, whose
//!   members [`apply`] carries into the replacing table so clients stay where they were)
//!   and jumps to the endpoint's chain, which DNATs;
//! - masquerading (marked in the service chain) of cluster-IP traffic from the node's pod
//!   range, so replies from a pod on the same bridge return through the host, and from
//!   127.0.0.1, which a pod cannot answer; the node's other addresses reach pods
//!   unchanged (the node is the pods' gateway). Node-port and load-balancer traffic is
//!   always masqueraded, so replies to other hosts return through this node;
//! - filter chains that reject (TCP reset / ICMP port unreachable) connections to a
//!   service port without endpoints, instead of leaving them to time out.
//!
//! The caller decides which endpoints serve cluster traffic and which serve external
//! (node port, load balancer) traffic, so `internalTrafficPolicy` and
//! `externalTrafficPolicy: Local` are its choice of lists. Pure text generation
//! ([`ruleset`]) plus one command ([`apply`]).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::{Command, Stdio};

use crate::Error;

/// The nftables table the proxy owns.
pub const TABLE: &str = "tug";
/// The packet mark bit that asks for masquerading (kube-proxy's).
const MASQUERADE_MARK: u32 = 0x4000;

/// A service's transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The Kubernetes name (`TCP`, `UDP`, `SCTP`).
    pub fn parse(name: &str) -> Option<Protocol> {
        match name {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    fn nft(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// One port of one Service, with the endpoints that serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// `namespace/name:port`, for comments and stable chain names.
    pub name: String,
    pub protocol: Protocol,
    /// The cluster IP (None for headless Services: nothing to proxy on it).
    pub cluster_ip: Option<Ipv4Addr>,
    pub port: u16,
    /// The node port (NodePort and LoadBalancer Services).
    pub node_port: Option<u16>,
    /// Ports this node serves on its own addresses for a LoadBalancer Service.
    pub load_balancer_port: Option<u16>,
    /// Endpoints for traffic from inside the cluster (to the cluster IP).
    pub internal: Vec<SocketAddrV4>,
    /// Endpoints for traffic from outside (node port, load balancer).
    pub external: Vec<SocketAddrV4>,
    /// `sessionAffinity: ClientIP`'s timeout in seconds.
    pub affinity_seconds: Option<u32>,
}

/// The whole table for `services` on a node whose pods are in `pod_cidr`: a script that
/// replaces any previous one atomically.
pub fn ruleset(services: &[ServicePort], pod_cidr: &str) -> String {
    let mut out = String::new();
    let mut body = String::new();
    let mut cluster_elements = Vec::new();
    let mut local_elements = Vec::new();
    let mut no_endpoints = Vec::new();
    let mut no_endpoints_local = Vec::new();
    let mut local_ports_seen = HashSet::new();
    for (index, svc) in services.iter().enumerate() {
        let proto = svc.protocol.nft();
        let id = format!("{}{index}", short_hash(&svc.name));
        if let Some(ip) = svc.cluster_ip {
            if svc.internal.is_empty() {
                no_endpoints.push(format!("{ip} . {proto} . {}", svc.port));
            } else {
                cluster_elements.push(format!("{ip} . {proto} . {} : goto svc-{id}", svc.port));
                let masquerade = format!("ip saddr {{ {pod_cidr}, 127.0.0.0/8 }} jump mark-for-masquerade");
                write_service_chain(&mut body, &format!("svc-{id}"), "", svc, &svc.internal, &masquerade);
            }
        }
        let local_ports: Vec<u16> = svc
            .node_port
            .into_iter()
            .chain(svc.load_balancer_port)
            .filter(|p| local_ports_seen.insert((svc.protocol, *p)))
            .collect();
        if local_ports.is_empty() {
            continue;
        }
        if svc.external.is_empty() {
            no_endpoints_local.extend(local_ports.iter().map(|p| format!("{proto} . {p}")));
        } else {
            local_elements.extend(local_ports.iter().map(|p| format!("{proto} . {p} : goto ext-{id}")));
            write_service_chain(&mut body, &format!("ext-{id}"), "external", svc, &svc.external, "jump mark-for-masquerade");
        }
    }
    let _ = writeln!(out, "table ip {TABLE}\ndelete table ip {TABLE}\ntable ip {TABLE} {{");
    let _ = writeln!(out, "  comment \"Kubernetes Services, written by the tug agent's service proxy\"");
    write_map(&mut out, "service-ips", "ipv4_addr . inet_proto . inet_service : verdict", &cluster_elements);
    write_map(&mut out, "service-local-ports", "inet_proto . inet_service : verdict", &local_elements);
    write_map(&mut out, "no-endpoint-ips", "ipv4_addr . inet_proto . inet_service", &no_endpoints);
    write_map(&mut out, "no-endpoint-local-ports", "inet_proto . inet_service", &no_endpoints_local);
    let _ = write!(
        out,
        "  chain nat-prerouting {{ type nat hook prerouting priority dstnat; policy accept; jump services; }}
  chain nat-output {{ type nat hook output priority -100; policy accept; jump services; }}
  chain nat-postrouting {{ type nat hook postrouting priority srcnat; policy accept; jump masquerading; }}
  chain services {{
    ip daddr . meta l4proto . th dport vmap @service-ips
    fib daddr type local meta l4proto . th dport vmap @service-local-ports
  }}
  chain masquerading {{
    meta mark & {MASQUERADE_MARK:#x} == 0 return
    meta mark set meta mark ^ {MASQUERADE_MARK:#x}
    masquerade fully-random
  }}
  chain mark-for-masquerade {{ meta mark set meta mark | {MASQUERADE_MARK:#x}; }}
  chain filter-input {{ type filter hook input priority -110; policy accept; ct state new jump no-endpoints; }}
  chain filter-forward {{ type filter hook forward priority -110; policy accept; ct state new jump no-endpoints; }}
  chain filter-output {{ type filter hook output priority -110; policy accept; ct state new jump no-endpoints; }}
  chain no-endpoints {{
    ip daddr . meta l4proto . th dport @no-endpoint-ips reject
    fib daddr type local meta l4proto . th dport @no-endpoint-local-ports reject
  }}
"
    );
    out.push_str(&body);
    out.push_str("}\n");
    out
}

fn write_map(out: &mut String, name: &str, type_: &str, elements: &[String]) {
    let kind = if type_.contains(':') { "map" } else { "set" };
    let _ = write!(out, "  {kind} {name} {{ type {type_};");
    if !elements.is_empty() {
        let _ = write!(out, " elements = {{ {} }};", elements.join(", "));
    }
    out.push_str(" }\n");
}

/// A service chain (`chain`) load balancing over `endpoints`, with endpoint chains
/// `<chain>-<i>`. Affinity sets are named for the service port, `traffic` (which list of
/// endpoints) and the endpoint, so the same client set survives a resync that reorders
/// or changes other endpoints.
/// `masquerade`: the rule that marks the chain's traffic for masquerading.
fn write_service_chain(out: &mut String, chain: &str, traffic: &str, svc: &ServicePort, endpoints: &[SocketAddrV4], masquerade: &str) {
    let proto = svc.protocol.nft();
    let affinity_sets: Vec<String> = match svc.affinity_seconds {
        Some(_) => endpoints.iter().map(|e| format!("{AFFINITY_PREFIX}{}", short_hash(&format!("{}/{traffic}/{e}", svc.name)))).collect(),
        None => Vec::new(),
    };
    if let Some(timeout) = svc.affinity_seconds {
        for set in &affinity_sets {
            let _ = writeln!(out, "  set {set} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}");
        }
    }
    let _ = writeln!(out, "  chain {chain} {{");
    let _ = writeln!(out, "    {masquerade} comment \"{}\"", svc.name.replace('"', ""));
    for (i, set) in affinity_sets.iter().enumerate() {
        let _ = writeln!(out, "    ip saddr @{set} goto {chain}-{i}");
    }
    let choices: Vec<String> = (0..endpoints.len()).map(|i| format!("{i} : goto {chain}-{i}")).collect();
    let _ = writeln!(out, "    numgen random mod {} vmap {{ {} }}", endpoints.len(), choices.join(", "));
    out.push_str("  }\n");
    for (i, endpoint) in endpoints.iter().enumerate() {
        let _ = writeln!(out, "  chain {chain}-{i} {{");
        if let Some(set) = affinity_sets.get(i) {
            let _ = writeln!(out, "    update @{set} {{ ip saddr }}");
        }
        let _ = writeln!(out, "    meta l4proto {proto} dnat to {endpoint}");
        out.push_str("  }\n");
    }
}

/// Affinity sets' names start with this.
const AFFINITY_PREFIX: &str = "aff-";

/// A short stable hash of `name` (FNV-1a, 8 hex digits), for chain and set names.
fn short_hash(name: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    format!("{:08x}", h as u32)
}

/// The clients in the loaded table's affinity sets that `script` declares again, as
/// `add element` commands keeping each client's remaining time: appended to the script,
/// they carry session affinity across the table's replacement in the same transaction.
fn carried_affinity(script: &str) -> Result<String, Error> {
    let wanted: HashSet<&str> = script
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("set "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| name.starts_with(AFFINITY_PREFIX))
        .collect();
    if wanted.is_empty() {
        return Ok(String::new());
    }
    let out = Command::new("nft")
        .args(["-j", "list", "sets", "table", "ip", TABLE])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::Io(format!("run nft (install the nftables package): {e}")))?;
    if !out.status.success() {
        return Ok(String::new()); // no table yet: nothing to carry
    }
    let listing: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| Error::Io(format!("read nft's listing of table ip {TABLE}: {e}")))?;
    let mut commands = String::new();
    let sets = listing["nftables"].as_array().into_iter().flatten().filter_map(|item| item.get("set"));
    for set in sets {
        let Some(name) = set["name"].as_str().filter(|n| wanted.contains(n)) else { continue };
        let clients: Vec<String> = set["elem"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| Some(format!("{} expires {}s", e["elem"]["val"].as_str()?, e["elem"]["expires"].as_u64()?.max(1))))
            .collect();
        if !clients.is_empty() {
            let _ = writeln!(commands, "add element ip {TABLE} {name} {{ {} }}", clients.join(", "));
        }
    }
    Ok(commands)
}

/// Loads a script made by [`ruleset`] (one atomic transaction), keeping the clients of
/// affinity sets that it declares again.
pub fn apply(script: &str) -> Result<(), Error> {
    let script = format!("{script}{}", carried_affinity(script)?);
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Io(format!("run nft (install the nftables package): {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| Error::Io(format!("write rules to nft: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| Error::Io(format!("run nft: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Io(format!("nft -f failed: {}", String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// UDP traffic the kernel's connection tracking would keep sending to an endpoint that a
/// sync removed: a UDP flow stays NATed to its endpoint while packets keep coming, so a
/// client that never pauses would talk to a gone endpoint forever (kube-proxy forgets
/// these flows too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleFlow {
    /// The address the client sent to: the cluster IP, or None for a node port (any of
    /// the node's addresses).
    pub to: Option<Ipv4Addr>,
    /// The port the client sent to.
    pub port: u16,
    /// The removed endpoint the flow was NATed to.
    pub endpoint: SocketAddrV4,
}

/// The UDP flows of service ports in `before` to endpoints no longer in `after`.
pub fn stale_udp_flows(before: &[ServicePort], after: &[ServicePort]) -> Vec<StaleFlow> {
    let mut out = Vec::new();
    for old in before.iter().filter(|p| p.protocol == Protocol::Udp) {
        let new = after.iter().find(|p| p.name == old.name && p.protocol == Protocol::Udp);
        let gone = |list: &[SocketAddrV4], kept: Option<&Vec<SocketAddrV4>>| -> Vec<SocketAddrV4> {
            list.iter().filter(|e| !kept.is_some_and(|k| k.contains(e))).copied().collect()
        };
        if let Some(ip) = old.cluster_ip {
            for endpoint in gone(&old.internal, new.map(|n| &n.internal)) {
                out.push(StaleFlow { to: Some(ip), port: old.port, endpoint });
            }
        }
        for port in old.node_port.into_iter().chain(old.load_balancer_port) {
            for endpoint in gone(&old.external, new.map(|n| &n.external)) {
                out.push(StaleFlow { to: None, port, endpoint });
            }
        }
    }
    out
}

/// Deletes `flows` from the connection tracking table (the `conntrack` tool, Debian's
/// conntrack package); a flow already gone is no error.
pub fn forget_flows(flows: &[StaleFlow]) -> Result<(), Error> {
    for flow in flows {
        let mut command = Command::new("conntrack");
        command.args(["-D", "-p", "udp"]);
        if let Some(to) = flow.to {
            command.args(["--orig-dst", &to.to_string()]);
        }
        command.args(["--orig-port-dst", &flow.port.to_string()]);
        command.args(["--reply-src", &flow.endpoint.ip().to_string(), "--reply-port-src", &flow.endpoint.port().to_string()]);
        let out = command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Io(format!("run conntrack (install the conntrack package): {e}")))?;
        // Exit status 1 with "0 flow entries": nothing matched.
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && !stderr.contains("0 flow entries") {
            return Err(Error::Io(format!("conntrack -D for {flow:?} failed: {}", stderr.trim())));
        }
    }
    Ok(())
}

/// Removes the proxy's table, if there is one.
pub fn remove() -> Result<(), Error> {
    apply(&format!("table ip {TABLE}\ndelete table ip {TABLE}\n"))
}

/// Lets `bridge` forward the traffic the proxy sends back out of it, and DNAT from
/// 127.0.0.1 to pods on it (node ports on localhost): per-interface sysctls, gone with
/// the bridge, so the host's global forwarding setting is left alone.
pub fn prepare_bridge(bridge: &str) -> Result<(), Error> {
    for key in ["forwarding", "route_localnet"] {
        let path = format!("/proc/sys/net/ipv4/conf/{bridge}/{key}");
        std::fs::write(&path, "1").map_err(|e| Error::Io(format!("write {path}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, endpoints: &[&str]) -> ServicePort {
        let endpoints: Vec<SocketAddrV4> = endpoints.iter().map(|e| e.parse().unwrap()).collect();
        ServicePort {
            name: name.into(),
            protocol: Protocol::Tcp,
            cluster_ip: Some(Ipv4Addr::new(10, 43, 0, 20)),
            port: 80,
            node_port: Some(30080),
            load_balancer_port: None,
            internal: endpoints.clone(),
            external: endpoints,
            affinity_seconds: None,
        }
    }

    #[test]
    fn endpoints_are_chosen_at_random_and_empty_services_reject() {
        let script = ruleset(&[port("default/web:http", &["10.42.0.5:8080", "10.42.0.6:8080"]), port("default/none:http", &[])], "10.42.0.0/24");
        assert!(script.starts_with("table ip tug\ndelete table ip tug\n"), "{script}");
        assert!(script.contains("numgen random mod 2 vmap { 0 : goto svc-"), "{script}");
        assert!(script.contains("dnat to 10.42.0.6:8080"), "{script}");
        assert!(script.contains("elements = { 10.43.0.20 . tcp . 80 };"), "{script}");
        // Pods and 127.0.0.1 are masqueraded to a cluster IP; anyone is to a node port.
        assert!(script.contains("ip saddr { 10.42.0.0/24, 127.0.0.0/8 } jump mark-for-masquerade"), "{script}");
        assert!(script.contains("chain ext-") && script.matches("    jump mark-for-masquerade").count() == 1, "{script}");
        // The node port of the empty service collides with the first: only one is kept.
        assert_eq!(script.matches("tcp . 30080").count(), 1, "{script}");
    }

    #[test]
    fn client_ip_affinity_remembers_clients_per_endpoint() {
        let mut svc = port("default/web:http", &["10.42.0.5:8080"]);
        svc.affinity_seconds = Some(10800);
        let script = ruleset(&[svc], "10.42.0.0/24");
        assert!(script.contains("flags dynamic,timeout; timeout 10800s;"), "{script}");
        assert!(script.contains("update @aff-"), "{script}");
        assert!(script.contains("ip saddr @aff-"), "{script}");
    }

    #[test]
    fn removed_udp_endpoints_are_stale_flows_and_tcp_ones_are_not() {
        let mut dns = port("kube-system/dns:53", &["10.42.0.5:53", "10.42.0.6:53"]);
        dns.protocol = Protocol::Udp;
        let web = port("default/web:http", &["10.42.0.7:80"]);
        let before = vec![dns.clone(), web.clone()];
        let gone: SocketAddrV4 = "10.42.0.5:53".parse().unwrap();
        dns.internal.retain(|e| *e != gone);
        dns.external.retain(|e| *e != gone);
        let flows = stale_udp_flows(&before, &[dns, port("default/web:http", &[])]);
        // port(): cluster IP 10.43.0.20 port 80, node port 30080.
        assert_eq!(
            flows,
            vec![
                StaleFlow { to: Some(Ipv4Addr::new(10, 43, 0, 20)), port: 80, endpoint: gone },
                StaleFlow { to: None, port: 30080, endpoint: gone },
            ]
        );
        // A Service gone altogether leaves every endpoint's flows stale.
        assert_eq!(stale_udp_flows(&before[..1], &[]).len(), 4);
    }

    /// Real conntrack entries: the stale one goes, another endpoint's stays.
    #[test]
    fn forgetting_flows_deletes_only_the_removed_endpoints_entries() {
        if std::process::Command::new("conntrack").arg("--version").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "conntrack is missing (apt conntrack)");
            return;
        }
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let insert = |endpoint: &str, sport: &str| {
            let ok = std::process::Command::new("conntrack")
                .args(["-I", "-p", "udp", "-s", "10.99.77.1", "-d", "10.43.77.77", "--sport", sport, "--dport", "53"])
                .args(["-r", endpoint, "-q", "10.99.77.1", "--reply-port-src", "5353", "--reply-port-dst", sport, "--timeout", "60"])
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(ok.success());
        };
        let list = || {
            let out = std::process::Command::new("conntrack").args(["-L", "-p", "udp", "--orig-dst", "10.43.77.77"]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        insert("10.99.78.5", "1000");
        insert("10.99.78.6", "1001");
        let flow = StaleFlow { to: Some(Ipv4Addr::new(10, 43, 77, 77)), port: 53, endpoint: "10.99.78.5:5353".parse().unwrap() };
        let result = forget_flows(&[flow.clone()]);
        let left = list();
        let _ = std::process::Command::new("conntrack").args(["-D", "-p", "udp", "--orig-dst", "10.43.77.77"]).output();
        result.unwrap();
        assert!(!left.contains("src=10.99.78.5") && left.contains("src=10.99.78.6"), "{left}");
        // Forgetting it again finds nothing, which is no error.
        forget_flows(&[flow]).unwrap();
    }

    fn affinity_sets(script: &str) -> Vec<&str> {
        script.lines().filter_map(|l| l.trim_start().strip_prefix("set aff-")).filter_map(|l| l.split_whitespace().next()).collect()
    }

    #[test]
    fn affinity_sets_keep_their_names_when_other_endpoints_and_services_change() {
        let mut sticky = port("default/web:http", &["10.42.0.5:8080"]);
        sticky.affinity_seconds = Some(60);
        let before = ruleset(&[sticky.clone()], "10.42.0.0/24");
        sticky.internal.insert(0, "10.42.0.9:8080".parse().unwrap());
        let mut other = port("default/other:http", &["10.42.0.3:80"]);
        other.node_port = Some(30081);
        let after = ruleset(&[other, sticky], "10.42.0.0/24");
        let (before, after) = (affinity_sets(&before), affinity_sets(&after));
        // Cluster-IP and node-port traffic keep sets of their own.
        assert_eq!(before.len(), 2, "{before:?}");
        assert!(before.iter().all(|set| after.contains(set)), "{before:?} not in {after:?}");
    }

    /// A resync replaces the table but not the clients an affinity set remembers.
    #[test]
    fn a_resync_keeps_the_clients_of_affinity_sets() {
        if std::process::Command::new("nft").arg("--version").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "nft is missing (apt nftables)");
            return;
        }
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let listed = std::process::Command::new("nft").args(["list", "table", "ip", TABLE]).output().unwrap();
        if listed.status.success() {
            eprintln!("skipping: table ip {TABLE} is in use (a cluster runs on this machine)");
            return;
        }
        struct Cleanup;
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = remove();
            }
        }
        let _cleanup = Cleanup;
        let mut sticky = port("default/web:http", &["10.42.0.5:8080"]);
        sticky.affinity_seconds = Some(600);
        let first = ruleset(&[sticky.clone()], "10.42.0.0/24");
        apply(&first).unwrap();
        let set = affinity_sets(&first)[0].to_string();
        let added = std::process::Command::new("nft")
            .args(["add", "element", "ip", TABLE, &format!("aff-{set}"), "{ 10.99.0.7 }"])
            .status()
            .unwrap();
        assert!(added.success());
        sticky.internal.push("10.42.0.6:8080".parse().unwrap());
        apply(&ruleset(&[sticky], "10.42.0.0/24")).unwrap();
        let out = std::process::Command::new("nft").args(["list", "set", "ip", TABLE, &format!("aff-{set}")]).output().unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(listing.contains("10.99.0.7 expires"), "{listing}");
    }

    /// The kernel's own parser accepts the rules (`nft -c`: checked, not loaded).
    #[test]
    fn nft_accepts_the_ruleset() {
        if std::process::Command::new("nft").arg("--version").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "nft is missing (apt nftables)");
            return;
        }
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let mut affinity = port("default/sticky:http", &["10.42.0.7:80"]);
        affinity.cluster_ip = Some(Ipv4Addr::new(10, 43, 0, 21));
        affinity.node_port = None;
        affinity.load_balancer_port = Some(8080);
        affinity.affinity_seconds = Some(60);
        let script = ruleset(&[port("default/web:http", &["10.42.0.5:8080", "10.42.0.6:8080"]), affinity, port("default/none:http", &[])], "10.42.0.0/24");
        let mut child = std::process::Command::new("nft")
            .args(["-c", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}\n{script}", String::from_utf8_lossy(&out.stderr));
    }
}
