//! hostPort: a pod's TCP container ports published on the node by a small userspace
//! forwarder in the agent (no nftables: nothing to undo in the host's firewall when the
//! agent dies, and loopback works too). Each published port is a listener on
//! `hostIP:hostPort` (all addresses by default) whose connections are spliced to
//! `podIP:containerPort`. Forwarders are remade when a restarted agent adopts the pod,
//! and stopped when the pod is cleaned up. UDP host ports are not published yet.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Pod;
use tokio::task::JoinHandle;

/// The forwarders of each pod, by pod uid.
#[derive(Default)]
pub struct HostPorts {
    forwarders: Mutex<HashMap<String, Vec<JoinHandle<()>>>>,
}

/// (host address, host port, container port) of the pod's TCP host ports.
fn published(pod: &Pod) -> Vec<(String, u16, u16)> {
    let spec = pod.spec.clone().unwrap_or_default();
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .filter_map(|p| {
            let host_port = u16::try_from(p.host_port?).ok().filter(|p| *p > 0)?;
            let host_ip = p.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "0.0.0.0".into());
            Some((host_ip, host_port, u16::try_from(p.container_port).ok()?))
        })
        .collect()
}

impl HostPorts {
    /// Starts the pod's forwarders unless they run; a port that cannot be bound is an error
    /// naming it (the pod is retried at its next sync).
    pub async fn ensure(&self, uid: &str, pod: &Pod, pod_ip: &str) -> Result<(), String> {
        if self.forwarders.lock().map(|f| f.contains_key(uid)).unwrap_or(true) {
            return Ok(());
        }
        let mut started = Vec::new();
        for (host_ip, host_port, container_port) in published(pod) {
            let listener = match tokio::net::TcpListener::bind((host_ip.as_str(), host_port)).await {
                Ok(l) => l,
                Err(e) => {
                    started.iter().for_each(JoinHandle::abort);
                    return Err(format!("failed to publish hostPort {host_port} on {host_ip}: {e}"));
                }
            };
            let target = format!("{pod_ip}:{container_port}");
            started.push(tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let target = target.clone();
                    tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            }));
        }
        if let Ok(mut forwarders) = self.forwarders.lock() {
            forwarders.insert(uid.to_string(), started);
        }
        Ok(())
    }

    /// Stops the pod's forwarders.
    pub fn release(&self, uid: &str) {
        if let Some(handles) = self.forwarders.lock().ok().and_then(|mut f| f.remove(uid)) {
            handles.iter().for_each(JoinHandle::abort);
        }
    }
}
