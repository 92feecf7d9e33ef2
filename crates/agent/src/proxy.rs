//! The service proxy (kube-proxy, nftables mode — the default and only mode): watches
//! Services and EndpointSlices and keeps the node's nftables table (`tug-network`'s
//! [`tug_network::proxy`]) matching them, so cluster IPs, node ports and load-balancer
//! ports reach ready endpoints from pods and from the node itself. Each sync rebuilds
//! the whole table in one transaction, after a short pause that gathers a burst of
//! changes, and only when the rules differ from what was loaded last; UDP flows that
//! connection tracking still holds to removed endpoints are then forgotten.
//!
//! LoadBalancer Services are served on this node's own addresses at their port (as
//! k3s's servicelb does) and get the node's IP in `status.loadBalancer.ingress`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;
use tug_network::proxy::{self, Protocol, ServicePort};

use crate::Error;

/// How long a sync waits for more changes after the first.
const GATHER: Duration = Duration::from_millis(50);
/// How soon a failed sync is tried again.
const RETRY: Duration = Duration::from_secs(2);
/// The label naming an EndpointSlice's Service.
const SERVICE_NAME: &str = "kubernetes.io/service-name";
/// kube-proxy's default `sessionAffinityConfig.clientIP.timeoutSeconds`.
const DEFAULT_AFFINITY_SECONDS: i32 = 10800;

/// The cluster's Services and EndpointSlices, cached (for the proxy and the DNS server),
/// and a stream that yields after every change; the caches fill only while it is polled.
pub fn caches(client: &Client) -> (Store<Service>, Store<EndpointSlice>, impl Stream<Item = ()> + Send + 'static) {
    let (services, services_writer) = reflector::store::<Service>();
    let (slices, slices_writer) = reflector::store::<EndpointSlice>();
    let service_events = watcher::watcher(Api::<Service>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(services_writer)
        .map(|_| ());
    let slice_events = watcher::watcher(Api::<EndpointSlice>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(slices_writer)
        .map(|_| ());
    (services, slices, futures_util::stream::select(service_events, slice_events))
}

/// Keeps the rules matching the caches (see [`caches`]; `events` is their change stream)
/// until the watches end.
pub async fn run(
    client: Client,
    node_name: String,
    node_ip: Ipv4Addr,
    pod_cidr: String,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    events: impl Stream<Item = ()>,
) -> Result<(), Error> {
    let mut events = std::pin::pin!(events);
    // The caches fill as the watches are polled: drive them until both have listed once.
    let ready = async {
        let _ = services.wait_until_ready().await;
        let _ = slices.wait_until_ready().await;
    };
    tokio::pin!(ready);
    loop {
        tokio::select! {
            _ = &mut ready => break,
            event = events.next() => if event.is_none() {
                return Err(Error::Internal("the service proxy's watches ended".into()));
            },
        }
    }
    let mut loaded = String::new();
    let mut loaded_ports = Vec::new();
    loop {
        let ports = service_ports(&services, &slices, &node_name);
        let script = proxy::ruleset(&ports, &pod_cidr);
        let mut retry = false;
        if script != loaded {
            let started = std::time::Instant::now();
            let stale = proxy::stale_udp_flows(&loaded_ports, &ports);
            let applied = tokio::task::spawn_blocking({
                let script = script.clone();
                move || -> Result<(), tug_network::Error> {
                    proxy::apply(&script)?;
                    // After the new rules: no new flow can pick a removed endpoint.
                    if let Err(e) = proxy::forget_flows(&stale) {
                        eprintln!("tug agent: service proxy: {e}");
                    }
                    Ok(())
                }
            })
            .await
            .map_err(|e| Error::Internal(format!("service proxy sync: {e}")))?;
            match applied {
                Ok(()) => {
                    loaded = script;
                    loaded_ports = ports;
                    eprintln!("tug agent: service proxy rules synced in {} ms", started.elapsed().as_millis());
                }
                Err(e) => {
                    eprintln!("tug agent: service proxy: {e}");
                    retry = true;
                }
            }
        }
        announce_load_balancers(&client, &services, node_ip).await;
        // Wait for a change (or the retry), then gather the burst that follows it.
        if retry {
            tokio::time::sleep(RETRY).await;
        } else if events.next().await.is_none() {
            return Err(Error::Internal("the service proxy's watches ended".into()));
        }
        let gather = tokio::time::sleep(GATHER);
        tokio::pin!(gather);
        loop {
            tokio::select! {
                _ = &mut gather => break,
                event = events.next() => if event.is_none() { break },
            }
        }
    }
}

/// Every proxied port of every Service, with its endpoints for internal and external traffic.
fn service_ports(services: &Store<Service>, slices: &Store<EndpointSlice>, node_name: &str) -> Vec<ServicePort> {
    let by_service = slices_by_service(&slices.state());
    let mut services: Vec<_> = services.state();
    services.sort_by_key(|s| (s.namespace(), s.name_any()));
    let mut out = Vec::new();
    for service in services {
        let Some(spec) = service.spec.as_ref() else { continue };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let namespace = service.namespace().unwrap_or_default();
        let name = service.name_any();
        let cluster_ip = spec.cluster_ip.as_deref().and_then(|ip| ip.parse::<Ipv4Addr>().ok());
        let load_balancer = spec.type_.as_deref() == Some("LoadBalancer");
        let affinity_seconds = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .unwrap_or(DEFAULT_AFFINITY_SECONDS);
            u32::try_from(timeout).unwrap_or(10800)
        });
        let slices = by_service.get(&(namespace.clone(), name.clone()));
        for port in spec.ports.iter().flatten() {
            let port_name = port.name.clone().unwrap_or_default();
            let Some(protocol) = Protocol::parse(port.protocol.as_deref().unwrap_or("TCP")) else { continue };
            let Ok(number) = u16::try_from(port.port) else { continue };
            let endpoints = ready_endpoints(slices.map(Vec::as_slice).unwrap_or_default(), &port_name, port.protocol.as_deref().unwrap_or("TCP"));
            let local = |policy: Option<&str>| -> Vec<SocketAddrV4> {
                endpoints
                    .iter()
                    .filter(|(_, node)| policy != Some("Local") || node.as_deref() == Some(node_name))
                    .map(|(addr, _)| *addr)
                    .collect()
            };
            out.push(ServicePort {
                name: format!("{namespace}/{name}:{}", if port_name.is_empty() { port.port.to_string() } else { port_name }),
                protocol,
                cluster_ip,
                port: number,
                node_port: port.node_port.and_then(|p| u16::try_from(p).ok()),
                load_balancer_port: load_balancer.then_some(number),
                internal: local(spec.internal_traffic_policy.as_deref()),
                external: local(spec.external_traffic_policy.as_deref()),
                affinity_seconds,
            });
        }
    }
    out
}

/// EndpointSlices by the (namespace, name) of their Service.
pub(crate) fn slices_by_service(slices: &[Arc<EndpointSlice>]) -> BTreeMap<(String, String), Vec<Arc<EndpointSlice>>> {
    let mut by_service: BTreeMap<(String, String), Vec<Arc<EndpointSlice>>> = BTreeMap::new();
    for slice in slices {
        if let Some(service) = slice.labels().get(SERVICE_NAME) {
            by_service.entry((slice.namespace().unwrap_or_default(), service.clone())).or_default().push(slice.clone());
        }
    }
    by_service
}

/// The ready endpoints (address and node) of `slices` for the service port named `port_name`.
pub(crate) fn ready_endpoints(slices: &[Arc<EndpointSlice>], port_name: &str, protocol: &str) -> Vec<(SocketAddrV4, Option<String>)> {
    let mut out = Vec::new();
    for slice in slices.iter().filter(|s| s.address_type == "IPv4") {
        let Some(port) = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name && p.protocol.as_deref().unwrap_or("TCP") == protocol
        }) else {
            continue;
        };
        let Some(number) = port.port.and_then(|p| u16::try_from(p).ok()) else { continue };
        for endpoint in &slice.endpoints {
            if endpoint.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            for address in &endpoint.addresses {
                if let Ok(ip) = address.parse::<Ipv4Addr>() {
                    out.push((SocketAddrV4::new(ip, number), endpoint.node_name.clone()));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Gives each LoadBalancer Service without this node's address the address, as servicelb does.
async fn announce_load_balancers(client: &Client, services: &Store<Service>, node_ip: Ipv4Addr) {
    let ip = node_ip.to_string();
    for service in services.state() {
        if service.spec.as_ref().and_then(|s| s.type_.as_deref()) != Some("LoadBalancer") {
            continue;
        }
        let announced = service
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .is_some_and(|i| i.iter().any(|i| i.ip.as_deref() == Some(ip.as_str())));
        if announced {
            continue;
        }
        let api: Api<Service> = Api::namespaced(client.clone(), &service.namespace().unwrap_or_default());
        let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}});
        if let Err(e) = api.patch_status(&service.name_any(), &PatchParams::default(), &Patch::Merge(&status)).await {
            eprintln!("tug agent: service {}/{}: set its load balancer address: {e}", service.namespace().unwrap_or_default(), service.name_any());
        }
    }
}
