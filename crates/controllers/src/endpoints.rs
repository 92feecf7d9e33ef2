//! The Endpoints controller: every Service with a selector has an Endpoints object of its
//! name listing the pods it selects, grouped into subsets by the ports they serve (named
//! targetPorts resolve per pod): Ready pods under `addresses`, the others under
//! `notReadyAddresses` (all under `addresses` with `publishNotReadyAddresses`),
//! terminating pods left out. Headless Services get the same, with each pod's hostname
//! when its `subdomain` names the Service. Services without a selector keep the Endpoints
//! their users write. Woken by the Service, its Endpoints, and any pod change in its
//! namespace; Endpoints of deleted Services are swept away.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Service,
};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::reconciler::{self, ReconcileError};
use crate::service_backends::{self, Backend, ResolvedPort};

/// The label marking Endpoints this controller manages (as kube-controller-manager's).
const MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
const MANAGER: &str = "endpoint-controller";
const RESYNC: Duration = Duration::from_secs(300);

/// Runs the controller until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let controller = service_backends::service_controller(&client)
        .watches(Api::<Endpoints>::all(client.clone()), watcher::Config::default(), |ep| {
            Some(ObjectRef::<Service>::new(&ep.name_any()).within(&ep.namespace()?))
        });
    let sweep = service_backends::sweep_on_deletes::<Endpoints>(
        client.clone(),
        "endpoints.kubernetes.io/managed-by=endpoint-controller",
        |ep| Some(ep.name_any()),
    );
    let reconcile = reconciler::run("endpoints", controller, move |svc, _| reconcile(client.clone(), svc));
    tokio::select! {
        result = reconcile => result,
        result = sweep => Err(crate::Error::Stopped {
            controller: "endpoints",
            message: result.err().map_or_else(|| "its Service watch ended".into(), |e| e.to_string()),
        }),
    }
}

async fn reconcile(client: Client, service: Arc<Service>) -> Result<Action, ReconcileError> {
    let Some(pods) = service_backends::pods_of(&client, &service).await? else {
        return Ok(Action::await_change());
    };
    let namespace = service.namespace().unwrap_or_default();
    let name = service.name_any();
    let backends = service_backends::backends(&service, &pods);
    let subsets = subsets(&service, &backends);
    let mut labels = service.labels().clone();
    labels.insert(MANAGED_BY.into(), MANAGER.into());
    let api: Api<Endpoints> = Api::namespaced(client, &namespace);
    match api.get_opt(&name).await? {
        None => {
            let endpoints = Endpoints {
                metadata: ObjectMeta { name: Some(name), labels: Some(labels), ..ObjectMeta::default() },
                subsets,
            };
            if let Err(e) = api.create(&PostParams::default(), &endpoints).await {
                // Another writer made it meanwhile: the next wake-up compares again.
                if !matches!(&e, kube::Error::Api(s) if s.code == 409) {
                    return Err(e.into());
                }
            }
        }
        Some(mut current) => {
            if current.subsets != subsets || current.metadata.labels.as_ref() != Some(&labels) {
                current.subsets = subsets;
                current.metadata.labels = Some(labels);
                api.replace(&name, &PostParams::default(), &current).await?;
            }
        }
    }
    Ok(Action::requeue(RESYNC))
}

/// The subsets: backends grouped by the ports they serve, addresses sorted by IP.
fn subsets(service: &Service, backends: &[Backend<'_>]) -> Option<Vec<EndpointSubset>> {
    let mut groups: BTreeMap<Vec<ResolvedPort>, (Vec<EndpointAddress>, Vec<EndpointAddress>)> = BTreeMap::new();
    for backend in backends.iter().filter(|b| !b.terminating || b.ready) {
        let address = EndpointAddress {
            ip: backend.ip.clone(),
            hostname: service_backends::hostname(service, backend.pod),
            node_name: backend.pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                name: backend.pod.metadata.name.clone(),
                namespace: backend.pod.metadata.namespace.clone(),
                uid: backend.pod.metadata.uid.clone(),
                ..ObjectReference::default()
            }),
        };
        let group = groups.entry(backend.ports.clone()).or_default();
        if backend.ready {
            group.0.push(address);
        } else {
            group.1.push(address);
        }
    }
    let subsets: Vec<EndpointSubset> = groups
        .into_iter()
        .map(|(ports, (ready, not_ready))| EndpointSubset {
            addresses: (!ready.is_empty()).then_some(ready),
            not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
            ports: (!ports.is_empty()).then(|| {
                ports
                    .into_iter()
                    .map(|p| EndpointPort {
                        name: (!p.name.is_empty()).then_some(p.name),
                        port: p.port,
                        protocol: Some(p.protocol),
                        app_protocol: p.app_protocol,
                    })
                    .collect()
            }),
        })
        .collect();
    (!subsets.is_empty()).then_some(subsets)
}
