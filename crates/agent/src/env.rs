//! A container's environment from its pod spec: `env` values with `$(VAR)`
//! references, `valueFrom` (ConfigMap and Secret keys, `fieldRef`,
//! `resourceFieldRef`) and `envFrom`, after the Service variables kubelet adds
//! (`KUBERNETES_SERVICE_HOST`, and with `enableServiceLinks` those of every Service in the
//! pod's namespace). Missing sources fail as kubelet words it
//! (`CreateContainerConfigError`), unless marked optional.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount};
use kube::runtime::reflector::Store;
use kube::{Api, Client};

use crate::spec::expand;
use tug_api::quantity::Quantity;

/// The data of ConfigMaps and Secrets, fetched once per container start.
pub struct Sources {
    client: Client,
    namespace: String,
    /// The service proxy's cache of every Service.
    services: Store<Service>,
}

/// Why a container's config cannot be built: kubelet's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl Sources {
    pub fn new(client: Client, namespace: &str, services: Store<Service>) -> Sources {
        Sources { client, namespace: namespace.into(), services }
    }

    /// The variables of the Services a container sees: `kubernetes` in `default` always,
    /// the pod's namespace's own if `links`, sorted by Service name.
    async fn service_variables(&self, links: bool) -> Vec<String> {
        // Containers started before the cache's first list would miss them.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.services.wait_until_ready()).await;
        let mut visible: Vec<std::sync::Arc<Service>> = self
            .services
            .state()
            .into_iter()
            .filter(|s| {
                let ns = s.metadata.namespace.as_deref().unwrap_or_default();
                let name = s.metadata.name.as_deref().unwrap_or_default();
                (links && ns == self.namespace) || (ns == "default" && name == "kubernetes")
            })
            .collect();
        visible.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        visible.dedup_by(|a, b| a.metadata.name == b.metadata.name);
        visible.iter().flat_map(|s| service_variables(s)).collect()
    }

    /// The PersistentVolume a claim is bound to, with kubelet's messages when it is not.
    pub async fn persistent_volume(&self, claim: &str) -> Result<PersistentVolume, ConfigError> {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &self.namespace);
        let pvc = claims.get_opt(claim).await.map_err(|e| ConfigError(format!("failed to get persistentvolumeclaim {}/{claim}: {e}", self.namespace)))?;
        let pvc = pvc.ok_or_else(|| ConfigError(format!("persistentvolumeclaim \"{claim}\" not found")))?;
        let phase = pvc.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        let volume = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).unwrap_or_default();
        if phase != "Bound" || volume.is_empty() {
            return Err(ConfigError(format!("PVC {}/{claim} has non-bound phase (\"{phase}\") or empty pvc.Spec.VolumeName (\"{volume}\")", self.namespace)));
        }
        let volumes: Api<PersistentVolume> = Api::all(self.client.clone());
        let pv = volumes.get_opt(&volume).await.map_err(|e| ConfigError(format!("failed to get persistentvolume {volume}: {e}")))?;
        pv.ok_or_else(|| ConfigError(format!("persistentvolume \"{volume}\" not found")))
    }

    /// A ConfigMap's data (`Ok(None)` if it does not exist).
    pub async fn config_map(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let found = api.get_opt(name).await.map_err(|e| ConfigError(format!("failed to get configmap {}/{name}: {e}", self.namespace)))?;
        Ok(found.map(|cm| {
            let mut data = cm.data.unwrap_or_default();
            for (k, v) in cm.binary_data.unwrap_or_default() {
                data.insert(k, String::from_utf8_lossy(&v.0).into_owned());
            }
            data
        }))
    }

    /// A bound service-account token for the pod (the TokenRequest API).
    pub async fn token(&self, account: &str, pod: &Pod, audience: Option<&str>, expiration_seconds: i64) -> Result<String, ConfigError> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        let request = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": audience.map(|a| vec![a]).unwrap_or_default(),
                "expirationSeconds": expiration_seconds,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid},
            },
        });
        let answer: serde_json::Value = api
            .create_subresource("token", account, &kube::api::PostParams::default(), &request)
            .await
            .map_err(|e| ConfigError(format!("failed to fetch token for serviceaccount {}/{account}: {e}", self.namespace)))?;
        answer
            .pointer("/status/token")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ConfigError(format!("the token request for serviceaccount {}/{account} returned no token", self.namespace)))
    }

    /// A Secret's data, decoded (`Ok(None)` if it does not exist).
    pub async fn secret(&self, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>, ConfigError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let found = api.get_opt(name).await.map_err(|e| ConfigError(format!("failed to get secret {}/{name}: {e}", self.namespace)))?;
        Ok(found.map(|s| {
            let mut data: BTreeMap<String, Vec<u8>> = s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
            for (k, v) in s.string_data.unwrap_or_default() {
                data.insert(k, v.into_bytes());
            }
            data
        }))
    }
}

/// A downward-API field of the pod (`metadata.name`, `metadata.labels['k']`, `status.podIP`, ...).
pub fn field(pod: &Pod, path: &str) -> Option<String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let keyed = |prefix: &str, map: Option<&BTreeMap<String, String>>| {
        let key = path.strip_prefix(prefix)?.strip_prefix("['")?.strip_suffix("']")?;
        Some(map?.get(key).cloned().unwrap_or_default())
    };
    let all = |map: Option<&BTreeMap<String, String>>| {
        map.map(|m| m.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join("\n")).unwrap_or_default()
    };
    Some(match path {
        "metadata.name" => meta.name.clone()?,
        "metadata.namespace" => meta.namespace.clone()?,
        "metadata.uid" => meta.uid.clone()?,
        "metadata.labels" => all(meta.labels.as_ref()),
        "metadata.annotations" => all(meta.annotations.as_ref()),
        "spec.nodeName" => spec?.node_name.clone()?,
        "spec.serviceAccountName" => spec?.service_account_name.clone().unwrap_or_else(|| "default".into()),
        "status.hostIP" => status?.host_ip.clone()?,
        "status.podIP" => status?.pod_ip.clone().unwrap_or_default(),
        "status.podIPs" => status?.pod_ips.as_ref().map(|ips| ips.iter().map(|i| i.ip.clone()).collect::<Vec<_>>().join(",")).unwrap_or_default(),
        _ => return keyed("metadata.labels", meta.labels.as_ref()).or_else(|| keyed("metadata.annotations", meta.annotations.as_ref())),
    })
}

/// A `resourceFieldRef` value (`limits.cpu`, `requests.memory`, ...) divided by `divisor`, rounded up.
/// An unset limit reads as the node's allocatable, given as `node_cpu_millis` and `node_memory`.
pub fn resource_field(container: &Container, resource: &str, divisor: Option<&str>, node_cpu_millis: i128, node_memory: i128) -> Option<String> {
    let (kind, name) = resource.split_once('.')?;
    let resources = container.resources.as_ref();
    let pick = |kind: &str| {
        let map = match kind {
            "limits" => resources?.limits.as_ref(),
            _ => resources?.requests.as_ref(),
        };
        Quantity::parse(&map?.get(name)?.0).ok()
    };
    let quantity = pick(kind).or_else(|| if kind == "requests" { pick("limits") } else { None });
    let divisor = divisor.and_then(|d| Quantity::parse(d).ok());
    if name == "cpu" {
        let millis = quantity.map_or(if kind == "limits" { node_cpu_millis } else { 0 }, |q| q.millis());
        let per = divisor.map_or(1000, |d| d.millis().max(1));
        Some(((millis + per - 1) / per).to_string())
    } else {
        let bytes = quantity.map_or(if kind == "limits" { node_memory } else { 0 }, |q| q.value());
        let per = divisor.map_or(1, |d| d.value().max(1));
        Some(((bytes + per - 1) / per).to_string())
    }
}

/// `NAME=value` for every variable of the container, in the order Kubernetes applies them.
pub async fn resolve(sources: &Sources, pod: &Pod, container: &Container, node_cpu_millis: i128, node_memory: i128) -> Result<Vec<String>, ConfigError> {
    let ns = &sources.namespace;
    let links = pod.spec.as_ref().and_then(|s| s.enable_service_links).unwrap_or(true);
    let mut env: Vec<String> = sources.service_variables(links).await;
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match sources.config_map(&r.name).await? {
                Some(data) => env.extend(data.into_iter().map(|(k, v)| format!("{prefix}{k}={v}"))),
                None if r.optional == Some(true) => {}
                None => return Err(ConfigError(format!("configmap \"{}\" not found", r.name))),
            }
        }
        if let Some(r) = &from.secret_ref {
            match sources.secret(&r.name).await? {
                Some(data) => env.extend(data.into_iter().map(|(k, v)| format!("{prefix}{k}={}", String::from_utf8_lossy(&v)))),
                None if r.optional == Some(true) => {}
                None => return Err(ConfigError(format!("secret \"{}\" not found", r.name))),
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = match &var.value_from {
            None => Some(expand(var.value.as_deref().unwrap_or_default(), &env)),
            Some(from) => {
                if let Some(r) = &from.config_map_key_ref {
                    let optional = r.optional == Some(true);
                    match sources.config_map(&r.name).await? {
                        Some(data) => match data.get(&r.key) {
                            Some(v) => Some(v.clone()),
                            None if optional => None,
                            None => return Err(ConfigError(format!("couldn't find key {} in ConfigMap {ns}/{}", r.key, r.name))),
                        },
                        None if optional => None,
                        None => return Err(ConfigError(format!("configmap \"{}\" not found", r.name))),
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let optional = r.optional == Some(true);
                    match sources.secret(&r.name).await? {
                        Some(data) => match data.get(&r.key) {
                            Some(v) => Some(String::from_utf8_lossy(v).into_owned()),
                            None if optional => None,
                            None => return Err(ConfigError(format!("couldn't find key {} in Secret {ns}/{}", r.key, r.name))),
                        },
                        None if optional => None,
                        None => return Err(ConfigError(format!("secret \"{}\" not found", r.name))),
                    }
                } else if let Some(f) = &from.field_ref {
                    Some(field(pod, &f.field_path).ok_or_else(|| ConfigError(format!("unsupported fieldPath: {}", f.field_path)))?)
                } else if let Some(r) = &from.resource_field_ref {
                    let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
                        Some(name) => pod.spec.as_ref().and_then(|s| s.containers.iter().find(|c| c.name == name)).unwrap_or(container),
                        None => container,
                    };
                    resource_field(target, &r.resource, r.divisor.as_ref().map(|d| d.0.as_str()), node_cpu_millis, node_memory)
                } else {
                    None
                }
            }
        };
        if let Some(value) = value {
            env.push(format!("{}={value}", var.name));
        }
    }
    Ok(env)
}

/// Docker-link style variables of a Service with a cluster IP, as kubelet writes them:
/// `WEB_SERVICE_HOST`, `WEB_SERVICE_PORT` (first port), `WEB_SERVICE_PORT_<NAME>`,
/// `WEB_PORT=tcp://ip:port` and per port `WEB_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}`.
fn service_variables(service: &Service) -> Vec<String> {
    let Some(spec) = &service.spec else { return Vec::new() };
    let Some(ip) = spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty() && *ip != "None") else { return Vec::new() };
    let ports = spec.ports.as_deref().unwrap_or_default();
    let Some(first) = ports.first() else { return Vec::new() };
    let prefix = service.metadata.name.as_deref().unwrap_or_default().to_uppercase().replace('-', "_");
    let proto = |p: &k8s_openapi::api::core::v1::ServicePort| p.protocol.as_deref().unwrap_or("TCP").to_string();
    let mut env = vec![format!("{prefix}_SERVICE_HOST={ip}"), format!("{prefix}_SERVICE_PORT={}", first.port)];
    for port in ports {
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            env.push(format!("{prefix}_SERVICE_PORT_{}={}", name.to_uppercase().replace('-', "_"), port.port));
        }
    }
    env.push(format!("{prefix}_PORT={}://{ip}:{}", proto(first).to_lowercase(), first.port));
    for port in ports {
        let (upper, lower) = (proto(port), proto(port).to_lowercase());
        let var = format!("{prefix}_PORT_{}_{upper}", port.port);
        env.push(format!("{var}={lower}://{ip}:{}", port.port));
        env.push(format!("{var}_PROTO={lower}"));
        env.push(format!("{var}_PORT={}", port.port));
        env.push(format!("{var}_ADDR={ip}"));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn downward_fields_and_resource_fields_read_the_pod() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "x"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}}}]},
            "status": {"podIP": "10.42.0.2"},
        })).unwrap();
        assert_eq!(field(&pod, "metadata.name").as_deref(), Some("web"));
        assert_eq!(field(&pod, "metadata.labels['app']").as_deref(), Some("x"));
        assert_eq!(field(&pod, "status.podIP").as_deref(), Some("10.42.0.2"));
        assert_eq!(field(&pod, "spec.bogus"), None);
        let c = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(resource_field(c, "limits.memory", Some("1Mi"), 2000, 1 << 30).as_deref(), Some("64"));
        assert_eq!(resource_field(c, "requests.cpu", Some("1m"), 2000, 1 << 30).as_deref(), Some("250"));
        assert_eq!(resource_field(c, "limits.cpu", None, 2000, 1 << 30).as_deref(), Some("2"));
    }

    #[test]
    fn service_variables_are_written_as_kubelet_does() {
        let service: Service = serde_json::from_value(json!({
            "metadata": {"name": "redis-primary", "namespace": "ns"},
            "spec": {"clusterIP": "10.43.0.11", "ports": [{"name": "db", "port": 6379}, {"port": 53, "protocol": "UDP"}]},
        })).unwrap();
        let env = service_variables(&service);
        for expected in [
            "REDIS_PRIMARY_SERVICE_HOST=10.43.0.11",
            "REDIS_PRIMARY_SERVICE_PORT=6379",
            "REDIS_PRIMARY_SERVICE_PORT_DB=6379",
            "REDIS_PRIMARY_PORT=tcp://10.43.0.11:6379",
            "REDIS_PRIMARY_PORT_6379_TCP=tcp://10.43.0.11:6379",
            "REDIS_PRIMARY_PORT_53_UDP_PROTO=udp",
            "REDIS_PRIMARY_PORT_53_UDP_ADDR=10.43.0.11",
        ] {
            assert!(env.iter().any(|e| e == expected), "{expected} missing from {env:?}");
        }
        let headless: Service = serde_json::from_value(json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}})).unwrap();
        assert!(service_variables(&headless).is_empty());
    }
}
