//! The cluster zone (`cluster.local`) computed from Services and EndpointSlices at query
//! time: `svc.ns.svc.cluster.local` (A: the cluster IP, or for a headless Service its
//! ready endpoints; CNAME for ExternalName), `_port._proto.svc.ns.svc.cluster.local` (SRV
//! per named port), `hostname.svc.ns.svc.cluster.local` (a headless Service's endpoint by
//! hostname: StatefulSet pod identities). AAAA of an existing name is an empty answer;
//! every other name is NXDOMAIN: nothing is forwarded.

use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;

use super::message::{Rdata, Record, A, NOERROR, NXDOMAIN, SRV};

/// The cluster domain.
pub const DOMAIN: &str = "cluster.local";
/// Seconds clients may cache an answer (CoreDNS' kubernetes plugin's default).
const TTL: u32 = 5;
/// The label naming an EndpointSlice's Service.
const SERVICE_NAME: &str = "kubernetes.io/service-name";

/// What the zone says about a name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub rcode: u8,
    pub answers: Vec<Record>,
    pub additional: Vec<Record>,
}

/// Looks `name` (lower case, no trailing dot) up for `qtype`.
pub fn lookup(services: &Store<Service>, slices: &Store<EndpointSlice>, name: &str, qtype: u16) -> Answer {
    let nx = Answer { rcode: NXDOMAIN, ..Answer::default() };
    let empty = Answer { rcode: NOERROR, ..Answer::default() };
    if name == DOMAIN || name == format!("svc.{DOMAIN}") {
        return empty;
    }
    let Some(rest) = name.strip_suffix(&format!(".svc.{DOMAIN}")) else { return nx };
    let labels: Vec<&str> = rest.split('.').collect();
    let (service_name, namespace) = match labels.as_slice() {
        [_ns] => return empty,
        [.., svc, ns] => (*svc, *ns),
        [] => return nx,
    };
    let Some(service) = services.get(&ObjectRef::new(service_name).within(namespace)) else { return nx };
    let Some(spec) = service.spec.as_ref() else { return nx };
    let fqdn = format!("{service_name}.{namespace}.svc.{DOMAIN}");
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let endpoints = || ready_endpoints(slices, namespace, service_name);
    match labels.as_slice() {
        [_, _] => {
            if spec.type_.as_deref() == Some("ExternalName") {
                let target = spec.external_name.clone().unwrap_or_default();
                return Answer { rcode: NOERROR, answers: vec![record(None, Rdata::Cname(target))], additional: vec![] };
            }
            if qtype != A && qtype != 255 {
                return empty;
            }
            let ips: Vec<Ipv4Addr> = if headless {
                endpoints().into_iter().map(|e| e.ip).collect()
            } else {
                spec.cluster_ip.as_deref().and_then(|ip| ip.parse().ok()).into_iter().collect()
            };
            Answer { rcode: NOERROR, answers: ips.into_iter().map(|ip| record(None, Rdata::A(ip))).collect(), additional: vec![] }
        }
        [host, _, _] => {
            let ips: Vec<Ipv4Addr> = endpoints().into_iter().filter(|e| e.hostname.as_deref() == Some(host)).map(|e| e.ip).collect();
            if ips.is_empty() {
                return nx;
            }
            if qtype != A && qtype != 255 {
                return empty;
            }
            Answer { rcode: NOERROR, answers: ips.into_iter().map(|ip| record(None, Rdata::A(ip))).collect(), additional: vec![] }
        }
        [port, proto, _, _] => {
            let (Some(port), Some(proto)) = (port.strip_prefix('_'), proto.strip_prefix('_')) else { return nx };
            let Some(service_port) = spec.ports.iter().flatten().find(|p| {
                p.name.as_deref() == Some(port) && p.protocol.as_deref().unwrap_or("TCP").eq_ignore_ascii_case(proto)
            }) else {
                return nx;
            };
            if qtype != SRV && qtype != 255 {
                return empty;
            }
            let mut answer = Answer { rcode: NOERROR, ..Answer::default() };
            if headless {
                for e in endpoints() {
                    let Some(number) = e.ports.iter().find(|(n, _)| n == port).map(|(_, p)| *p) else { continue };
                    let host = e.hostname.clone().unwrap_or_else(|| e.ip.to_string().replace('.', "-"));
                    let target = format!("{host}.{fqdn}");
                    answer.answers.push(record(None, Rdata::Srv { priority: 0, weight: 100, port: number, target: target.clone() }));
                    answer.additional.push(record(Some(target), Rdata::A(e.ip)));
                }
            } else {
                let number = u16::try_from(service_port.port).unwrap_or_default();
                answer.answers.push(record(None, Rdata::Srv { priority: 0, weight: 100, port: number, target: fqdn.clone() }));
                if let Some(ip) = spec.cluster_ip.as_deref().and_then(|ip| ip.parse().ok()) {
                    answer.additional.push(record(Some(fqdn), Rdata::A(ip)));
                }
            }
            answer
        }
        _ => nx,
    }
}

fn record(name: Option<String>, data: Rdata) -> Record {
    Record { name, ttl: TTL, data }
}

/// A ready endpoint of a Service: address, hostname, and its (port name, number) pairs.
struct Endpoint {
    ip: Ipv4Addr,
    hostname: Option<String>,
    ports: Vec<(String, u16)>,
}

fn ready_endpoints(slices: &Store<EndpointSlice>, namespace: &str, service: &str) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    let matching: Vec<Arc<EndpointSlice>> = slices
        .state()
        .into_iter()
        .filter(|s| s.namespace().as_deref() == Some(namespace) && s.labels().get(SERVICE_NAME).map(String::as_str) == Some(service))
        .collect();
    for slice in matching {
        let ports: Vec<(String, u16)> = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| Some((p.name.clone().unwrap_or_default(), u16::try_from(p.port?).ok()?)))
            .collect();
        for e in &slice.endpoints {
            if e.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            for address in &e.addresses {
                if let Ok(ip) = address.parse() {
                    out.push(Endpoint { ip, hostname: e.hostname.clone(), ports: ports.clone() });
                }
            }
        }
    }
    out.sort_by_key(|e| e.ip);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;
    use serde_json::json;

    fn zone() -> (Store<Service>, Store<EndpointSlice>) {
        let (services, mut services_writer) = reflector::store::<Service>();
        let (slices, mut slices_writer) = reflector::store::<EndpointSlice>();
        for svc in [
            json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {"clusterIP": "10.43.0.20", "ports": [{"name": "http", "port": 80}]}}),
            json!({"metadata": {"name": "db", "namespace": "shop"}, "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}}),
            json!({"metadata": {"name": "ext", "namespace": "shop"}, "spec": {"type": "ExternalName", "externalName": "example.org"}}),
        ] {
            services_writer.apply_watcher_event(&Event::Apply(serde_json::from_value(svc).unwrap()));
        }
        let slice = json!({"metadata": {"name": "db-x", "namespace": "shop", "labels": {SERVICE_NAME: "db"}}, "addressType": "IPv4",
            "ports": [{"name": "pg", "port": 5432}],
            "endpoints": [
                {"addresses": ["10.42.0.7"], "hostname": "db-0", "conditions": {"ready": true}},
                {"addresses": ["10.42.0.8"], "hostname": "db-1", "conditions": {"ready": true}},
                {"addresses": ["10.42.0.9"], "hostname": "db-2", "conditions": {"ready": false}}]});
        slices_writer.apply_watcher_event(&Event::Apply(serde_json::from_value(slice).unwrap()));
        (services, slices)
    }

    fn addresses(answer: &Answer) -> Vec<String> {
        answer.answers.iter().map(|r| format!("{:?}", r.data)).collect()
    }

    #[test]
    fn services_headless_pods_srv_and_outside_names() {
        let (services, slices) = zone();
        let look = |name: &str, qtype| lookup(&services, &slices, name, qtype);
        assert_eq!(addresses(&look("web.shop.svc.cluster.local", A)), ["A(10.43.0.20)"]);
        assert_eq!(addresses(&look("db.shop.svc.cluster.local", A)), ["A(10.42.0.7)", "A(10.42.0.8)"]);
        assert_eq!(addresses(&look("db-1.db.shop.svc.cluster.local", A)), ["A(10.42.0.8)"]);
        assert_eq!(look("db-2.db.shop.svc.cluster.local", A).rcode, NXDOMAIN);
        let srv = look("_http._tcp.web.shop.svc.cluster.local", SRV);
        assert_eq!(addresses(&srv), [r#"Srv { priority: 0, weight: 100, port: 80, target: "web.shop.svc.cluster.local" }"#]);
        assert_eq!(srv.additional.len(), 1);
        let srv = look("_pg._tcp.db.shop.svc.cluster.local", SRV);
        assert_eq!(srv.answers.len(), 2);
        assert_eq!(addresses(&look("ext.shop.svc.cluster.local", A)), [r#"Cname("example.org")"#]);
        // AAAA of an existing name: no records, no error.
        let aaaa = look("web.shop.svc.cluster.local", 28);
        assert_eq!((aaaa.rcode, aaaa.answers.len()), (NOERROR, 0));
        for outside in ["example.com", "nope.shop.svc.cluster.local", "web.other.svc.cluster.local", "a.b.c.d.e.svc.cluster.local"] {
            assert_eq!(look(outside, A).rcode, NXDOMAIN, "{outside}");
        }
    }
}
