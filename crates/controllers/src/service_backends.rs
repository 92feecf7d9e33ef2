//! What the Endpoints and EndpointSlice controllers share: which pods back a Service (its
//! selector, in its namespace, with an IP, not finished), whether each counts as ready
//! (`publishNotReadyAddresses` makes every one ready), the Service's ports resolved against
//! each pod (a named `targetPort` is looked up among that pod's container ports, so two
//! pods may serve one Service port on different numbers), and the sweep that removes what
//! a deleted Service left behind.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt};

/// One pod behind a Service.
#[derive(Debug, Clone)]
pub struct Backend<'a> {
    pub pod: &'a Pod,
    pub ip: String,
    /// Ready for traffic: the pod is Ready and not terminating (or the Service publishes
    /// not-ready addresses).
    pub ready: bool,
    /// The pod is Ready, terminating or not.
    pub serving: bool,
    pub terminating: bool,
    /// The Service's ports as this pod serves them (ports it cannot serve left out).
    pub ports: Vec<ResolvedPort>,
}

/// A Service port resolved to the number one pod listens on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResolvedPort {
    /// The Service port's name (empty when it has none).
    pub name: String,
    pub port: i32,
    pub protocol: String,
    pub app_protocol: Option<String>,
}

/// The selector of a Service whose endpoints the controllers manage (None: the user's).
pub fn selector(service: &Service) -> Option<&BTreeMap<String, String>> {
    service
        .spec
        .as_ref()?
        .selector
        .as_ref()
        .filter(|s| !s.is_empty())
}

/// The label selector string for listing a Service's pods.
pub fn label_selector(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The pods (already selected by the Service's selector) that back `service`, sorted by IP.
pub fn backends<'a>(service: &Service, pods: &'a [Pod]) -> Vec<Backend<'a>> {
    let publish_not_ready = service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let mut out: Vec<Backend<'a>> = pods
        .iter()
        .filter_map(|pod| {
            let status = pod.status.as_ref()?;
            if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
                return None;
            }
            let ip = status.pod_ip.clone().filter(|ip| !ip.is_empty())?;
            let pod_ready = status.conditions.as_ref().is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            });
            let terminating = pod.metadata.deletion_timestamp.is_some();
            Some(Backend {
                pod,
                ip,
                ready: publish_not_ready || (pod_ready && !terminating),
                serving: publish_not_ready || pod_ready,
                terminating,
                ports: resolve_ports(service, pod),
            })
        })
        .collect();
    out.sort_by(|a, b| a.ip.cmp(&b.ip).then_with(|| a.pod.name_any().cmp(&b.pod.name_any())));
    out
}

/// The Service's ports as `pod` serves them: a numeric (or absent) targetPort as is, a
/// named one by the pod's container port of that name and protocol; one the pod does not
/// name is left out for that pod.
pub fn resolve_ports(service: &Service, pod: &Pod) -> Vec<ResolvedPort> {
    let ports = service.spec.as_ref().and_then(|s| s.ports.as_ref());
    let mut out: Vec<ResolvedPort> = ports
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            let number = match &p.target_port {
                None => p.port,
                Some(IntOrString::Int(n)) => *n,
                Some(IntOrString::String(name)) => match name.parse::<i32>() {
                    Ok(n) => n,
                    Err(_) => named_port(pod, name, &protocol)?,
                },
            };
            Some(ResolvedPort {
                name: p.name.clone().unwrap_or_default(),
                port: number,
                protocol,
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect();
    out.sort();
    out
}

fn named_port(pod: &Pod, name: &str, protocol: &str) -> Option<i32> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name) && p.protocol.as_deref().unwrap_or("TCP") == protocol)
        .map(|p| p.container_port)
}

/// The DNS hostname a pod has under a headless Service: its `spec.hostname` when its
/// `spec.subdomain` is the Service's name.
pub fn hostname(service: &Service, pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    (spec.subdomain.as_deref() == Some(service.name_any().as_str()))
        .then(|| spec.hostname.clone())
        .flatten()
}

/// Lists the pods a Service selects.
pub async fn selected_pods(client: &Client, namespace: &str, selector: &BTreeMap<String, String>) -> Result<Vec<Pod>, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    Ok(pods.list(&ListParams::default().labels(&label_selector(selector))).await?.items)
}

/// Deletes every `K` carrying `managed_by` (a label selector) whose Service (named by
/// `service_of`) no longer exists: what a Service deleted while no one watched left behind.
pub async fn remove_orphans<K>(
    client: &Client,
    managed_by: &str,
    service_of: impl Fn(&K) -> Option<String>,
) -> Result<(), kube::Error>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    let services: Api<Service> = Api::all(client.clone());
    let existing: HashSet<(String, String)> = services
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|s| (s.namespace().unwrap_or_default(), s.name_any()))
        .collect();
    let all: Api<K> = Api::all(client.clone());
    for object in all.list(&ListParams::default().labels(managed_by)).await?.items {
        let namespace = object.namespace().unwrap_or_default();
        let Some(service) = service_of(&object) else { continue };
        if !existing.contains(&(namespace.clone(), service)) {
            let api: Api<K> = Api::namespaced(client.clone(), &namespace);
            match api.delete(&object.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A Service controller woken by any pod change in a Service's namespace (for Services
/// with a selector); the Endpoints and EndpointSlice controllers add their own watches.
pub fn service_controller(client: &Client) -> kube::runtime::Controller<Service> {
    use kube::runtime::reflector::ObjectRef;
    use kube::runtime::{watcher, Controller};
    let controller = Controller::new(Api::<Service>::all(client.clone()), watcher::Config::default());
    let services = controller.store();
    controller.watches(Api::<Pod>::all(client.clone()), watcher::Config::default(), move |pod| {
        let namespace = pod.namespace();
        services
            .state()
            .into_iter()
            .filter(|s| s.namespace() == namespace && selector(s).is_some())
            .map(|s| ObjectRef::from_obj(&*s))
            .collect::<Vec<_>>()
    })
}

/// The pods a live Service with a selector picks; `None` for a Service without a selector
/// (its users write its endpoints) or one being deleted.
pub async fn pods_of(client: &Client, service: &Service) -> Result<Option<Vec<Pod>>, kube::Error> {
    let Some(selector) = selector(service) else {
        return Ok(None);
    };
    if service.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let namespace = service.namespace().unwrap_or_default();
    selected_pods(client, &namespace, selector).await.map(Some)
}

/// Runs [`remove_orphans`] at start and whenever a Service is deleted, until the watch ends.
pub async fn sweep_on_deletes<K>(
    client: Client,
    managed_by: &'static str,
    service_of: impl Fn(&K) -> Option<String>,
) -> Result<(), kube::Error>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    use futures_util::StreamExt;
    use kube::runtime::watcher::{self, Event};
    let services: Api<Service> = Api::all(client.clone());
    let mut events = std::pin::pin!(watcher::watcher(services, watcher::Config::default()));
    while let Some(event) = events.next().await {
        if let Ok(Event::Delete(_) | Event::InitDone) = event {
            remove_orphans(&client, managed_by, &service_of).await?;
        }
    }
    Ok(())
}
