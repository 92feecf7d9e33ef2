//! The EndpointSlice controller: every Service with a selector has EndpointSlices
//! (discovery.k8s.io/v1, labelled `kubernetes.io/service-name`, owned by the Service)
//! holding the pods it selects: one slice per set of resolved ports, at most
//! [`MAX_ENDPOINTS`] endpoints each, every endpoint with its `ready`, `serving` and
//! `terminating` conditions, node name and hostname; an empty slice when no pod backs
//! it. Slice names are derived from the Service name and the port set, so a rewrite
//! replaces slices in place. This is what the node agents' service proxy and DNS read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::reconciler::{self, ReconcileError};
use crate::service_backends::{self, Backend, ResolvedPort};

/// The label naming a slice's Service.
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const MANAGER: &str = "endpointslice-controller.k8s.io";
/// kube-controller-manager's default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS: usize = 100;
const RESYNC: Duration = Duration::from_secs(300);

/// Runs the controller until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let controller = service_backends::service_controller(&client)
        .owns(
            Api::<EndpointSlice>::all(client.clone()),
            watcher::Config::default().labels(&format!("{MANAGED_BY}={MANAGER}")),
        );
    let sweep = service_backends::sweep_on_deletes::<EndpointSlice>(
        client.clone(),
        "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io",
        |slice| slice.labels().get(SERVICE_NAME).cloned(),
    );
    let reconcile = reconciler::run("endpointslice", controller, move |svc, _| reconcile(client.clone(), svc));
    tokio::select! {
        result = reconcile => result,
        result = sweep => Err(crate::Error::Stopped {
            controller: "endpointslice",
            message: result.err().map_or_else(|| "its Service watch ended".into(), |e| e.to_string()),
        }),
    }
}

async fn reconcile(client: Client, service: Arc<Service>) -> Result<Action, ReconcileError> {
    let Some(pods) = service_backends::pods_of(&client, &service).await? else {
        return Ok(Action::await_change());
    };
    let namespace = service.namespace().unwrap_or_default();
    let backends = service_backends::backends(&service, &pods);
    let desired = slices(&service, &backends);
    let api: Api<EndpointSlice> = Api::namespaced(client, &namespace);
    let owned = format!("{SERVICE_NAME}={},{MANAGED_BY}={MANAGER}", service.name_any());
    let mut current: BTreeMap<String, EndpointSlice> = api
        .list(&ListParams::default().labels(&owned))
        .await?
        .items
        .into_iter()
        .map(|s| (s.name_any(), s))
        .collect();
    for slice in desired {
        let name = slice.name_any();
        match current.remove(&name) {
            None => {
                if let Err(e) = api.create(&PostParams::default(), &slice).await {
                    if !matches!(&e, kube::Error::Api(s) if s.code == 409) {
                        return Err(e.into());
                    }
                }
            }
            Some(mut existing) => {
                if existing.endpoints != slice.endpoints
                    || existing.ports != slice.ports
                    || existing.metadata.labels != slice.metadata.labels
                {
                    existing.endpoints = slice.endpoints;
                    existing.ports = slice.ports;
                    existing.metadata.labels = slice.metadata.labels;
                    api.replace(&name, &PostParams::default(), &existing).await?;
                }
            }
        }
    }
    for stale in current.keys() {
        match api.delete(stale, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::requeue(RESYNC))
}

/// The slices `service` should have: per port set, chunks of [`MAX_ENDPOINTS`].
fn slices(service: &Service, backends: &[Backend<'_>]) -> Vec<EndpointSlice> {
    let mut groups: BTreeMap<Vec<ResolvedPort>, Vec<Endpoint>> = BTreeMap::new();
    for backend in backends {
        groups.entry(backend.ports.clone()).or_default().push(Endpoint {
            addresses: vec![backend.ip.clone()],
            conditions: Some(EndpointConditions {
                ready: Some(backend.ready),
                serving: Some(backend.serving),
                terminating: Some(backend.terminating),
            }),
            hostname: service_backends::hostname(service, backend.pod),
            node_name: backend.pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                name: backend.pod.metadata.name.clone(),
                namespace: backend.pod.metadata.namespace.clone(),
                uid: backend.pod.metadata.uid.clone(),
                ..ObjectReference::default()
            }),
            ..Endpoint::default()
        });
    }
    if groups.is_empty() {
        groups.insert(Vec::new(), Vec::new());
    }
    let mut out = Vec::new();
    for (ports, endpoints) in groups {
        let chunks: Vec<Vec<Endpoint>> = if endpoints.is_empty() {
            vec![Vec::new()]
        } else {
            endpoints.chunks(MAX_ENDPOINTS).map(<[Endpoint]>::to_vec).collect()
        };
        for (index, chunk) in chunks.into_iter().enumerate() {
            out.push(slice(service, &ports, index, chunk));
        }
    }
    out
}

fn slice(service: &Service, ports: &[ResolvedPort], index: usize, endpoints: Vec<Endpoint>) -> EndpointSlice {
    let mut labels = service.labels().clone();
    labels.insert(SERVICE_NAME.into(), service.name_any());
    labels.insert(MANAGED_BY.into(), MANAGER.into());
    let owner = OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: service.name_any(),
        uid: service.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(format!("{}-{}", service.name_any(), slice_suffix(ports, index))),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints,
        ports: Some(
            ports
                .iter()
                .map(|p| EndpointPort {
                    name: Some(p.name.clone()),
                    port: Some(p.port),
                    protocol: Some(p.protocol.clone()),
                    app_protocol: p.app_protocol.clone(),
                })
                .collect(),
        ),
    }
}

/// A stable short suffix for a port set and chunk (FNV-1a, 5 base-36 digits).
fn slice_suffix(ports: &[ResolvedPort], index: usize) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    let text = format!("{ports:?}/{index}");
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    let mut n = h % 36u64.pow(5);
    let mut out = String::new();
    for _ in 0..5 {
        let d = (n % 36) as u32;
        out.push(char::from_digit(d, 36).unwrap_or('0'));
        n /= 36;
    }
    out
}
