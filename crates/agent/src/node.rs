//! The agent's Node object: registration (create, or take over the existing one),
//! and the status it reports — capacity and allocatable, addresses, the four
//! conditions (Ready, MemoryPressure, DiskPressure, PIDPressure) with kubelet's
//! reasons and messages, nodeInfo and the agent's endpoint.

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};

use crate::machine::{Info, Resources};
use crate::{Error, Options};

/// The version this agent reports as `kubeletVersion` (the API version it speaks).
pub const KUBELET_VERSION: &str = "v1.33.0";

/// Creates the Node, or adopts the one registered before under this name.
pub async fn register(client: &Client, options: &Options) -> Result<Node, Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let name = &options.node_name;
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": Info::read().architecture,
            },
        },
    }))
    .map_err(|e| Error::Internal(format!("node object: {e}")))?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(created) => Ok(created),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            nodes.get(name).await.map_err(|e| Error::api(format!("get node {name}"), e))
        }
        Err(e) => Err(Error::api(format!("register node {name}"), e)),
    }
}

/// Writes the node's current status; `previous` carries the conditions' transition times.
pub async fn report(client: &Client, options: &Options, previous: Option<&Node>) -> Result<Node, Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let resources = Resources::read(&options.data_dir);
    let status = status(options, &resources, previous, Timestamp::now());
    nodes
        .patch_status(&options.node_name, &PatchParams::default(), &Patch::Merge(json!({ "status": status })))
        .await
        .map_err(|e| Error::api(format!("update the status of node {}", options.node_name), e))
}

/// The `status` of this node now.
pub fn status(options: &Options, r: &Resources, previous: Option<&Node>, now: Timestamp) -> Value {
    let info = Info::read();
    let resources = json!({
        "cpu": r.cpus.to_string(),
        "memory": format!("{}Ki", r.memory_kib),
        "ephemeral-storage": format!("{}Ki", r.disk_bytes / 1024),
        "pods": options.max_pods.to_string(),
    });
    let condition = |type_: &str, on: bool, (reason_on, msg_on): (&str, &str), (reason_off, msg_off): (&str, &str)| {
        let status = if on { "True" } else { "False" };
        let transition = previous
            .and_then(|n| n.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_).cloned())
            .filter(|c| c.status == status)
            .and_then(|c| c.last_transition_time)
            .map(|t| t.0)
            .unwrap_or(now);
        let (reason, message) = if on { (reason_on, msg_on) } else { (reason_off, msg_off) };
        json!({
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now.to_string(),
            "lastTransitionTime": transition.to_string(),
        })
    };
    json!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            condition("MemoryPressure", r.memory_pressure(),
                ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
                ("KubeletHasSufficientMemory", "kubelet has sufficient memory available")),
            condition("DiskPressure", r.disk_pressure(),
                ("KubeletHasDiskPressure", "kubelet has disk pressure"),
                ("KubeletHasNoDiskPressure", "kubelet has no disk pressure")),
            condition("PIDPressure", r.pid_pressure(),
                ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
                ("KubeletHasSufficientPID", "kubelet has sufficient PID available")),
            condition("Ready", true,
                ("KubeletReady", "kubelet is posting ready status"),
                ("KubeletNotReady", "")),
        ],
        "addresses": [
            {"type": "InternalIP", "address": options.node_ip.to_string()},
            {"type": "Hostname", "address": options.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": options.port}},
        "nodeInfo": {
            "machineID": info.machine_id,
            "systemUUID": info.system_uuid,
            "bootID": info.boot_id,
            "kernelVersion": info.kernel_version,
            "osImage": info.os_image,
            "containerRuntimeVersion": concat!("tug://", env!("CARGO_PKG_VERSION")),
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": info.architecture,
        },
    })
}
