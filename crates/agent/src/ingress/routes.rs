//! The route table: the Ingresses of our classes turned into host → path → backend
//! lookups, each backend resolved through its Service to ready endpoints (EndpointSlices).
//! Pure: built from cached objects, read by every request.
//!
//! Precedence, as Kubernetes specifies it: exact hosts before `*.wildcard` hosts (one
//! label only) before rules without a host; within them the longest matching path, Exact
//! before Prefix on a tie (ImplementationSpecific is a Prefix here), the oldest Ingress
//! first when two claim the same path. A request no rule takes goes to the oldest
//! Ingress's `defaultBackend`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};
use kube::ResourceExt;

use crate::proxy;

/// The `spec.controller` of the IngressClasses this controller serves.
pub const CONTROLLER: &str = "tugboat.dev/ingress";
/// The annotation marking the cluster's default IngressClass.
pub const DEFAULT_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";
/// The annotation older Ingresses name their class with.
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// Where a route sends its requests.
#[derive(Debug)]
pub struct Backend {
    /// `namespace/service:port`, for logs and error pages.
    pub name: String,
    pub target: Target,
}

#[derive(Debug)]
pub enum Target {
    /// Ready endpoints, tried round robin from `next`.
    Endpoints { addrs: Vec<SocketAddr>, next: AtomicUsize },
    /// Nothing to send to: the reason, answered with 503.
    Unavailable(String),
}

impl Backend {
    /// The endpoints in the order to try them for one request (round robin: each request
    /// starts one further along).
    pub fn order(&self) -> Vec<SocketAddr> {
        match &self.target {
            Target::Endpoints { addrs, next } if !addrs.is_empty() => {
                let start = next.fetch_add(1, Ordering::Relaxed) % addrs.len();
                addrs[start..].iter().chain(&addrs[..start]).copied().collect()
            }
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PathKind {
    // Exact sorts first: it wins a tie with a Prefix of the same path.
    Exact,
    Prefix,
}

#[derive(Debug)]
struct PathRule {
    /// Exact: the path as written; Prefix: without its trailing slash ("/" stays).
    path: String,
    kind: PathKind,
    backend: Arc<Backend>,
}

impl PathRule {
    fn matches(&self, path: &str) -> bool {
        match self.kind {
            PathKind::Exact => path == self.path,
            PathKind::Prefix => {
                self.path == "/"
                    || path.strip_prefix(self.path.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
        }
    }
}

/// A TLS section of an Ingress: the Secret holding the certificate for these hosts
/// (no hosts: the certificate for names no other section claims).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsEntry {
    pub hosts: Vec<String>,
    pub namespace: String,
    pub secret: String,
    /// The Ingress that asked for it (`namespace/name`), for problems.
    pub ingress: IngressRef,
}

/// An Ingress named in a problem or a status update.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IngressRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Something wrong with an Ingress that the controller reports as an Event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Problem {
    pub ingress: IngressRef,
    pub reason: &'static str,
    pub message: String,
}

/// The routes of every Ingress of our classes.
#[derive(Debug, Default)]
pub struct Table {
    exact: HashMap<String, Vec<PathRule>>,
    /// `*.example.com` under `example.com`.
    wildcard: HashMap<String, Vec<PathRule>>,
    any_host: Vec<PathRule>,
    default: Option<Arc<Backend>>,
    /// TLS sections, oldest Ingress first.
    pub tls: Vec<TlsEntry>,
    /// The Ingresses this table serves (their status gets the node's address).
    pub ingresses: Vec<IngressRef>,
    pub problems: Vec<Problem>,
}

impl Table {
    /// The backend for a request to `host` (without port; None when the request named
    /// none) and `path`, or None when no rule and no default backend takes it.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<&Arc<Backend>> {
        let host = host.map(normalize_host);
        let exact = host.as_deref().and_then(|h| self.exact.get(h));
        let wildcard = host.as_deref().and_then(|h| h.split_once('.')).and_then(|(_, parent)| self.wildcard.get(parent));
        exact
            .into_iter()
            .chain(wildcard)
            .chain(std::iter::once(&self.any_host))
            .find_map(|rules| rules.iter().find(|r| r.matches(path)))
            .map(|r| &r.backend)
            .or(self.default.as_ref())
    }
}

/// A host as rules and requests are compared: lower case, no trailing dot.
pub fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The names of the IngressClasses this controller serves, and whether one of them is the
/// cluster's default.
fn our_classes(classes: &[Arc<IngressClass>]) -> (Vec<String>, bool) {
    let ours: Vec<&Arc<IngressClass>> =
        classes.iter().filter(|c| c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER)).collect();
    let default = ours.iter().any(|c| c.annotations().get(DEFAULT_CLASS).map(String::as_str) == Some("true"));
    (ours.iter().map(|c| c.name_any()).collect(), default)
}

/// Whether `ingress` is ours: its class (field, else the old annotation) is one of ours, or
/// it names none and one of ours is the default.
fn is_ours(ingress: &Ingress, names: &[String], default: bool) -> bool {
    let class = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_ref())
        .or_else(|| ingress.annotations().get(CLASS_ANNOTATION));
    match class {
        Some(class) => names.contains(class),
        None => default,
    }
}

/// Builds the table from the caches' contents.
pub fn build(
    ingresses: &[Arc<Ingress>],
    classes: &[Arc<IngressClass>],
    services: &[Arc<Service>],
    slices: &[Arc<EndpointSlice>],
) -> Table {
    let (names, default) = our_classes(classes);
    let mut ours: Vec<&Arc<Ingress>> = ingresses.iter().filter(|i| is_ours(i, &names, default)).collect();
    // Oldest first (then by name): the older Ingress wins a conflict.
    ours.sort_by_key(|i| (i.creation_timestamp().map(|t| t.0), i.namespace(), i.name_any()));
    let services: HashMap<(String, String), &Arc<Service>> =
        services.iter().map(|s| ((s.namespace().unwrap_or_default(), s.name_any()), s)).collect();
    let slices = proxy::slices_by_service(slices);
    let mut resolver = Resolver { services, slices, resolved: HashMap::new() };
    let mut table = Table::default();
    for ingress in ours {
        let namespace = ingress.namespace().unwrap_or_default();
        let at = IngressRef { namespace: namespace.clone(), name: ingress.name_any(), uid: ingress.uid().unwrap_or_default() };
        table.ingresses.push(at.clone());
        let Some(spec) = ingress.spec.as_ref() else { continue };
        if let Some(backend) = &spec.default_backend {
            let resolved = resolver.resolve(&namespace, backend, &at, "spec.defaultBackend", &mut table.problems);
            table.default.get_or_insert(resolved);
        }
        for (r, rule) in spec.rules.iter().flatten().enumerate() {
            let Some(http) = &rule.http else { continue };
            let rules = match rule.host.as_deref().map(normalize_host) {
                None => &mut table.any_host,
                Some(host) if host.is_empty() => &mut table.any_host,
                Some(host) => match host.strip_prefix("*.") {
                    Some(parent) => table.wildcard.entry(parent.to_string()).or_default(),
                    None => table.exact.entry(host).or_default(),
                },
            };
            for (p, path) in http.paths.iter().enumerate() {
                let field = format!("spec.rules[{r}].http.paths[{p}].backend");
                let backend = resolver.resolve(&namespace, &path.backend, &at, &field, &mut table.problems);
                let written = path.path.clone().unwrap_or_else(|| "/".into());
                let kind = if path.path_type == "Exact" { PathKind::Exact } else { PathKind::Prefix };
                let path = match kind {
                    PathKind::Exact => written,
                    PathKind::Prefix => match written.trim_end_matches('/') {
                        "" => "/".to_string(),
                        trimmed => trimmed.to_string(),
                    },
                };
                rules.push(PathRule { path, kind, backend });
            }
        }
        for tls in spec.tls.iter().flatten() {
            let Some(secret) = tls.secret_name.clone() else { continue };
            let hosts = tls.hosts.iter().flatten().map(|h| normalize_host(h)).collect();
            table.tls.push(TlsEntry { hosts, namespace: namespace.clone(), secret, ingress: at.clone() });
        }
    }
    // Longest path first, Exact before Prefix on a tie; the sort is stable, so among equals
    // the oldest Ingress's rule stays first.
    for rules in table.exact.values_mut().chain(table.wildcard.values_mut()).chain(std::iter::once(&mut table.any_host)) {
        rules.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then(a.kind.cmp(&b.kind)));
    }
    table
}

/// Resolves backends to endpoints, once per (namespace, backend) per table.
struct Resolver<'a> {
    services: HashMap<(String, String), &'a Arc<Service>>,
    slices: BTreeMap<(String, String), Vec<Arc<EndpointSlice>>>,
    resolved: HashMap<(String, String, String), Arc<Backend>>,
}

impl Resolver<'_> {
    fn resolve(&mut self, namespace: &str, backend: &IngressBackend, at: &IngressRef, field: &str, problems: &mut Vec<Problem>) -> Arc<Backend> {
        let (name, port) = match &backend.service {
            Some(service) => {
                let port = service.port.as_ref();
                let port = port.and_then(|p| p.name.clone()).or_else(|| port.and_then(|p| p.number).map(|n| n.to_string()));
                (service.name.clone(), port.unwrap_or_default())
            }
            None => {
                let message = format!("{field}: only Service backends are supported (set {field}.service)");
                problems.push(Problem { ingress: at.clone(), reason: "UnsupportedBackend", message: message.clone() });
                return Arc::new(Backend { name: field.to_string(), target: Target::Unavailable(message) });
            }
        };
        let key = (namespace.to_string(), name.clone(), port.clone());
        if let Some(resolved) = self.resolved.get(&key) {
            if let Target::Unavailable(message) = &resolved.target {
                problems.push(Problem { ingress: at.clone(), reason: "BackendUnavailable", message: format!("{field}: {message}") });
            }
            return resolved.clone();
        }
        let full = format!("{namespace}/{name}:{port}");
        let target = match self.endpoints(namespace, backend) {
            Ok(addrs) if addrs.is_empty() => Target::Unavailable(format!("service \"{namespace}/{name}\" has no ready endpoints")),
            Ok(addrs) => Target::Endpoints { addrs, next: AtomicUsize::new(0) },
            Err(message) => {
                let reason = if message.contains("not found") { "ServiceNotFound" } else { "BackendUnavailable" };
                problems.push(Problem { ingress: at.clone(), reason, message: format!("{field}: {message}") });
                Target::Unavailable(message)
            }
        };
        let resolved = Arc::new(Backend { name: full, target });
        self.resolved.insert(key, resolved.clone());
        resolved
    }

    /// The ready endpoints of a Service backend, or what is wrong with it.
    fn endpoints(&self, namespace: &str, backend: &IngressBackend) -> Result<Vec<SocketAddr>, String> {
        let Some(wanted) = backend.service.as_ref() else { return Err("no service".into()) };
        let key = (namespace.to_string(), wanted.name.clone());
        let Some(service) = self.services.get(&key) else {
            return Err(format!("service \"{namespace}/{}\" not found", wanted.name));
        };
        let spec = service.spec.as_ref();
        if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
            return Err(format!("service \"{namespace}/{}\" is an ExternalName service, which cannot be a backend", wanted.name));
        }
        let by_name = wanted.port.as_ref().and_then(|p| p.name.as_deref());
        let by_number = wanted.port.as_ref().and_then(|p| p.number);
        let port = spec.and_then(|s| s.ports.as_ref()).into_iter().flatten().find(|p| match (by_name, by_number) {
            (Some(name), _) => p.name.as_deref() == Some(name),
            (None, Some(number)) => p.port == number,
            (None, None) => false,
        });
        let Some(port) = port else {
            let wanted_port = by_name.map(str::to_string).or(by_number.map(|n| n.to_string())).unwrap_or_else(|| "(none given)".into());
            return Err(format!("service \"{namespace}/{}\" has no port {wanted_port}", wanted.name));
        };
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if protocol != "TCP" {
            return Err(format!("service \"{namespace}/{}\" port {} is {protocol}, not TCP", wanted.name, port.port));
        }
        let slices = self.slices.get(&key).map(Vec::as_slice).unwrap_or_default();
        Ok(proxy::ready_endpoints(slices, port.name.as_deref().unwrap_or(""), protocol)
            .into_iter()
            .map(|(addr, _)| SocketAddr::V4(addr))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(name: &str, created: &str, spec: serde_json::Value) -> Arc<Ingress> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default", "uid": name, "creationTimestamp": created},
                "spec": spec,
            }))
            .unwrap(),
        )
    }

    fn class(name: &str, default: bool) -> Arc<IngressClass> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "annotations": {DEFAULT_CLASS: default.to_string()}},
                "spec": {"controller": CONTROLLER},
            }))
            .unwrap(),
        )
    }

    fn service(name: &str, ports: serde_json::Value) -> Arc<Service> {
        Arc::new(serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"ports": ports}})).unwrap())
    }

    fn slice(service: &str, port_name: &str, port: u16, addresses: &[(&str, bool)]) -> Arc<EndpointSlice> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": format!("{service}-x"), "namespace": "default", "labels": {"kubernetes.io/service-name": service}},
                "addressType": "IPv4",
                "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
                "endpoints": addresses.iter().map(|(ip, ready)| json!({"addresses": [ip], "conditions": {"ready": ready}})).collect::<Vec<_>>(),
            }))
            .unwrap(),
        )
    }

    fn backend(service: &str, port: serde_json::Value) -> serde_json::Value {
        json!({"service": {"name": service, "port": port}})
    }

    fn path(path: &str, kind: &str, service: &str) -> serde_json::Value {
        json!({"path": path, "pathType": kind, "backend": backend(service, json!({"number": 80}))})
    }

    /// Services a..e, each with one endpoint 10.0.0.N:8080 on port 80, and f with none.
    fn world() -> (Vec<Arc<Service>>, Vec<Arc<EndpointSlice>>) {
        let mut services = Vec::new();
        let mut slices = Vec::new();
        for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            services.push(service(name, json!([{"name": "http", "port": 80}])));
            slices.push(slice(name, "http", 8080, &[(&format!("10.0.0.{}", i + 1), true)]));
        }
        services.push(service("f", json!([{"port": 80}])));
        (services, slices)
    }

    /// The first endpoint of the route's backend, or its unavailability message.
    fn target(table: &Table, host: Option<&str>, path: &str) -> String {
        match table.route(host, path).map(|b| &b.target) {
            Some(Target::Endpoints { addrs, .. }) => addrs[0].to_string(),
            Some(Target::Unavailable(why)) => why.clone(),
            None => "404".into(),
        }
    }

    #[test]
    fn longest_path_wins_and_exact_beats_prefix_on_a_tie() {
        let (services, slices) = world();
        let ing = ingress(
            "web",
            "2026-01-01T00:00:00Z",
            json!({"rules": [{"host": "shop.example.com", "http": {"paths": [
                path("/", "Prefix", "a"),
                path("/api", "Prefix", "b"),
                path("/api", "Exact", "c"),
                path("/api/v2/", "ImplementationSpecific", "d"),
            ]}}]}),
        );
        let table = build(&[ing], &[class("tug", true)], &services, &slices);
        let host = Some("Shop.Example.com.");
        assert_eq!(target(&table, host, "/api"), "10.0.0.3:8080");
        assert_eq!(target(&table, host, "/api/"), "10.0.0.2:8080");
        assert_eq!(target(&table, host, "/api/users"), "10.0.0.2:8080");
        assert_eq!(target(&table, host, "/api/v2"), "10.0.0.4:8080");
        assert_eq!(target(&table, host, "/api/v2/x"), "10.0.0.4:8080");
        // Prefix matches whole path elements only.
        assert_eq!(target(&table, host, "/apis"), "10.0.0.1:8080");
        assert_eq!(target(&table, host, "/"), "10.0.0.1:8080");
        // Another host: no rule, no default backend.
        assert_eq!(target(&table, Some("other.example.com"), "/"), "404");
    }

    #[test]
    fn exact_hosts_before_wildcards_before_any_host_then_the_default_backend() {
        let (services, slices) = world();
        let ing = ingress(
            "web",
            "2026-01-01T00:00:00Z",
            json!({
                "defaultBackend": backend("e", json!({"name": "http"})),
                "rules": [
                    {"host": "a.example.com", "http": {"paths": [path("/x", "Prefix", "a")]}},
                    {"host": "*.example.com", "http": {"paths": [path("/", "Prefix", "b")]}},
                    {"http": {"paths": [path("/", "Prefix", "c")]}},
                ],
            }),
        );
        let table = build(&[ing], &[class("tug", true)], &services, &slices);
        assert_eq!(target(&table, Some("a.example.com"), "/x/1"), "10.0.0.1:8080");
        // The exact host has no rule for /y: the wildcard's takes it.
        assert_eq!(target(&table, Some("a.example.com"), "/y"), "10.0.0.2:8080");
        assert_eq!(target(&table, Some("b.example.com"), "/"), "10.0.0.2:8080");
        // A wildcard covers one label only.
        assert_eq!(target(&table, Some("x.b.example.com"), "/"), "10.0.0.3:8080");
        assert_eq!(target(&table, Some("example.com"), "/"), "10.0.0.3:8080");
        assert_eq!(target(&table, None, "/"), "10.0.0.3:8080");
        let only_default = ingress("d", "2026-01-01T00:00:00Z", json!({"defaultBackend": backend("e", json!({"number": 80}))}));
        let table = build(&[only_default], &[class("tug", true)], &services, &slices);
        assert_eq!(target(&table, Some("anything"), "/z"), "10.0.0.5:8080");
    }

    #[test]
    fn only_ingresses_of_our_classes_are_served_and_the_oldest_wins_a_conflict() {
        let (services, slices) = world();
        let rule = |svc: &str| json!({"rules": [{"host": "h", "http": {"paths": [path("/", "Prefix", svc)]}}]});
        let newer = ingress("newer", "2026-02-01T00:00:00Z", rule("b"));
        let older = ingress("older", "2026-01-01T00:00:00Z", rule("a"));
        let mut other = (*ingress("other", "2025-01-01T00:00:00Z", rule("c"))).clone();
        other.spec.as_mut().unwrap().ingress_class_name = Some("nginx".into());
        let ingresses = [newer, older, Arc::new(other)];
        let table = build(&ingresses, &[class("tug", true)], &services, &slices);
        assert_eq!(target(&table, Some("h"), "/"), "10.0.0.1:8080");
        assert_eq!(table.ingresses.len(), 2);
        // Without a default class, Ingresses naming no class are nobody's.
        let table = build(&ingresses, &[class("tug", false)], &services, &slices);
        assert_eq!(target(&table, Some("h"), "/"), "404");
    }

    #[test]
    fn missing_services_ports_and_endpoints_answer_unavailable_with_a_reason() {
        let (services, mut slices) = world();
        slices.push(slice("f", "", 9090, &[("10.0.0.9", false)]));
        let ing = ingress(
            "web",
            "2026-01-01T00:00:00Z",
            json!({"rules": [{"http": {"paths": [
                path("/missing", "Prefix", "nope"),
                path("/f", "Prefix", "f"),
                {"path": "/port", "pathType": "Prefix", "backend": backend("a", json!({"number": 81}))},
                {"path": "/named", "pathType": "Prefix", "backend": backend("a", json!({"name": "http"}))},
            ]}}]}),
        );
        let table = build(&[ing], &[class("tug", true)], &services, &slices);
        assert_eq!(target(&table, None, "/missing"), "service \"default/nope\" not found");
        assert_eq!(target(&table, None, "/f"), "service \"default/f\" has no ready endpoints");
        assert_eq!(target(&table, None, "/port"), "service \"default/a\" has no port 81");
        assert_eq!(target(&table, None, "/named"), "10.0.0.1:8080");
        let reasons: Vec<(&str, &str)> = table.problems.iter().map(|p| (p.reason, p.message.as_str())).collect();
        assert_eq!(
            reasons,
            [
                ("ServiceNotFound", "spec.rules[0].http.paths[0].backend: service \"default/nope\" not found"),
                ("BackendUnavailable", "spec.rules[0].http.paths[2].backend: service \"default/a\" has no port 81"),
            ]
        );
    }

    #[test]
    fn round_robin_starts_one_endpoint_further_each_request() {
        let services = vec![service("a", json!([{"port": 80, "targetPort": 8080}]))];
        let slices = vec![slice("a", "", 8080, &[("10.0.0.1", true), ("10.0.0.2", true), ("10.0.0.3", false)])];
        let ing = ingress("web", "2026-01-01T00:00:00Z", json!({"rules": [{"http": {"paths": [path("/", "Prefix", "a")]}}]}));
        let table = build(&[ing], &[class("tug", true)], &services, &slices);
        let backend = table.route(None, "/").unwrap();
        let first: Vec<String> = backend.order().iter().map(ToString::to_string).collect();
        let second: Vec<String> = backend.order().iter().map(ToString::to_string).collect();
        assert_eq!(first, ["10.0.0.1:8080", "10.0.0.2:8080"]);
        assert_eq!(second, ["10.0.0.2:8080", "10.0.0.1:8080"]);
    }
}
