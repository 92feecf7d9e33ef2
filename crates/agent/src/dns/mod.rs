//! Cluster DNS served by the agent (the CoreDNS role in k3s): an authoritative server for
//! `cluster.local` ([`records`]) on the node's bridge address, port 53 (UDP and TCP),
//! reached by pods through the Service `kube-system/kube-dns` at [`CLUSTER_DNS`]; the
//! agent keeps that Service and an EndpointSlice naming its own server in place (the
//! Service's `internalTrafficPolicy: Local` sends each node's pods to their own agent).
//! Pods get a resolv.conf pointing at it ([`resolv`]). Packets are parsed by
//! [`message`]; a bad one is answered FORMERR or dropped, never a crash.

pub mod message;
pub mod records;
pub mod resolv;

use std::net::{Ipv4Addr, SocketAddr};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::Client;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use crate::Error;

/// The cluster DNS Service's address (k3s' 10.43.0.10).
pub const CLUSTER_DNS: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 10);
/// The DNS port.
pub const PORT: u16 = 53;
/// The field manager of what the agent writes for DNS.
const MANAGER: &str = "tug-agent-dns";

/// Answers one packet: the reply to send, if any.
pub fn respond(services: &Store<Service>, slices: &Store<EndpointSlice>, packet: &[u8]) -> Option<Vec<u8>> {
    match message::parse(packet) {
        Ok(query) => {
            if !message::class_ok(&query) {
                return Some(message::answer(&query, message::NXDOMAIN, &[], &[]));
            }
            let found = records::lookup(services, slices, &query.name, query.qtype);
            Some(message::answer(&query, found.rcode, &found.answers, &found.additional))
        }
        Err(message::ParseError::Malformed { id, .. }) => Some(message::format_error(id)),
        Err(_) => None,
    }
}

/// Serves DNS on `address` (UDP and TCP) until a socket fails.
pub async fn serve(address: Ipv4Addr, services: Store<Service>, slices: Store<EndpointSlice>) -> Result<(), Error> {
    let bind = SocketAddr::from((address, PORT));
    let udp = UdpSocket::bind(bind).await.map_err(|e| Error::Internal(format!("cluster DNS: bind udp {bind}: {e}")))?;
    let tcp = TcpListener::bind(bind).await.map_err(|e| Error::Internal(format!("cluster DNS: bind tcp {bind}: {e}")))?;
    let tcp_stores = (services.clone(), slices.clone());
    let tcp_loop = async move {
        loop {
            let (mut stream, _) = tcp.accept().await.map_err(|e| Error::Internal(format!("cluster DNS: accept: {e}")))?;
            let (services, slices) = tcp_stores.clone();
            tokio::spawn(async move {
                // Length-prefixed messages until the client closes (RFC 7766).
                loop {
                    let mut len = [0u8; 2];
                    if stream.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if stream.read_exact(&mut packet).await.is_err() {
                        return;
                    }
                    let Some(reply) = respond(&services, &slices, &packet) else { return };
                    let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&reply);
                    if stream.write_all(&framed).await.is_err() {
                        return;
                    }
                }
            });
        }
    };
    let udp_loop = async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (len, from) = udp.recv_from(&mut buf).await.map_err(|e| Error::Internal(format!("cluster DNS: receive: {e}")))?;
            if let Some(reply) = respond(&services, &slices, &buf[..len]) {
                // A lost reply is the client's to retry.
                let _ = udp.send_to(&reply, from).await;
            }
        }
    };
    tokio::select! {
        result = tcp_loop => result,
        result = udp_loop => result,
    }
}

/// Puts the `kube-dns` Service and this node's EndpointSlice for it in place (server-side apply).
pub async fn register(client: &Client, node_name: &str, address: Ipv4Addr) -> Result<(), Error> {
    let params = PatchParams::apply(MANAGER).force();
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": CLUSTER_DNS.to_string(), "internalTrafficPolicy": "Local", "ports": [
            {"name": "dns", "port": PORT, "protocol": "UDP"},
            {"name": "dns-tcp", "port": PORT, "protocol": "TCP"}]}
    });
    let services: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    services
        .patch("kube-dns", &params, &Patch::Apply(&service))
        .await
        .map_err(|e| Error::api("register the kube-dns Service".into(), e))?;
    let name = format!("kube-dns-{node_name}");
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "kube-system",
            "labels": {"kubernetes.io/service-name": "kube-dns", "endpointslice.kubernetes.io/managed-by": MANAGER}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address.to_string()], "nodeName": node_name,
            "conditions": {"ready": true, "serving": true, "terminating": false}}],
        "ports": [{"name": "dns", "port": PORT, "protocol": "UDP"}, {"name": "dns-tcp", "port": PORT, "protocol": "TCP"}]
    });
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "kube-system");
    slices
        .patch(&name, &params, &Patch::Apply(&slice))
        .await
        .map_err(|e| Error::api(format!("register the EndpointSlice {name}"), e))?;
    Ok(())
}
