//! A pod's `/etc/resolv.conf`, as kubelet writes it: `dnsPolicy` ClusterFirst (the
//! default) points at the cluster DNS with the search path `ns.svc.cluster.local
//! svc.cluster.local cluster.local` and `ndots:5`; Default copies the node's file;
//! None starts empty; ClusterFirst on the host network means Default unless it is
//! ClusterFirstWithHostNet. `dnsConfig` nameservers and searches are appended and its
//! options override ones of the same name.

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Pod;

use super::records::DOMAIN;

/// The resolv.conf for `pod`, the cluster DNS at `cluster_dns`, the node's own file `host`.
pub fn resolv_conf(pod: &Pod, cluster_dns: Ipv4Addr, host: &str) -> String {
    let spec = pod.spec.as_ref();
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec.and_then(|s| s.dns_policy.as_deref()).unwrap_or("ClusterFirst");
    let (mut servers, mut searches, mut options): (Vec<String>, Vec<String>, Vec<(String, Option<String>)>) =
        match (policy, host_network) {
            ("None", _) => (vec![], vec![], vec![]),
            ("ClusterFirstWithHostNet", _) | ("ClusterFirst", false) => (
                vec![cluster_dns.to_string()],
                vec![format!("{namespace}.svc.{DOMAIN}"), format!("svc.{DOMAIN}"), DOMAIN.to_string()],
                vec![("ndots".into(), Some("5".into()))],
            ),
            _ => parse_host(host),
        };
    if let Some(config) = spec.and_then(|s| s.dns_config.as_ref()) {
        servers.extend(config.nameservers.iter().flatten().cloned());
        searches.extend(config.searches.iter().flatten().cloned());
        for option in config.options.iter().flatten() {
            let Some(name) = option.name.clone() else { continue };
            options.retain(|(n, _)| *n != name);
            options.push((name, option.value.clone()));
        }
    }
    let mut out = String::new();
    for server in servers.iter().take(3) {
        out.push_str(&format!("nameserver {server}\n"));
    }
    if !searches.is_empty() {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    if !options.is_empty() {
        let options: Vec<String> = options.into_iter().map(|(n, v)| v.map_or(n.clone(), |v| format!("{n}:{v}"))).collect();
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

type Parsed = (Vec<String>, Vec<String>, Vec<(String, Option<String>)>);

fn parse_host(text: &str) -> Parsed {
    let (mut servers, mut searches, mut options) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => servers.extend(words.next().map(str::to_string)),
            Some("search" | "domain") => searches = words.map(str::to_string).collect(),
            Some("options") => options.extend(words.map(|w| match w.split_once(':') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (w.to_string(), None),
            })),
            _ => {}
        }
    }
    (servers, searches, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p", "namespace": "shop"}, "spec": spec})).unwrap()
    }

    #[test]
    fn dns_policies_and_config_shape_the_file() {
        let dns = Ipv4Addr::new(10, 43, 0, 10);
        let host = "nameserver 192.0.2.1\nsearch example.com\noptions edns0\n";
        assert_eq!(
            resolv_conf(&pod(serde_json::json!({"containers": []})), dns, host),
            "nameserver 10.43.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
        );
        assert_eq!(resolv_conf(&pod(serde_json::json!({"containers": [], "dnsPolicy": "Default"})), dns, host), host);
        assert_eq!(resolv_conf(&pod(serde_json::json!({"containers": [], "hostNetwork": true})), dns, host), host);
        let none = pod(serde_json::json!({"containers": [], "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["1.2.3.4"], "searches": ["a.b"], "options": [{"name": "ndots", "value": "2"}, {"name": "rotate"}]}}));
        assert_eq!(resolv_conf(&none, dns, host), "nameserver 1.2.3.4\nsearch a.b\noptions ndots:2 rotate\n");
        let extra = pod(serde_json::json!({"containers": [], "dnsConfig": {"options": [{"name": "ndots", "value": "1"}]}}));
        assert!(resolv_conf(&extra, dns, host).ends_with("options ndots:1\n"));
    }
}
