//! The built-in ingress controller: serves `networking.k8s.io/v1` Ingresses of the
//! IngressClass `tug` (made at start, marked the cluster's default) on the node's HTTP and
//! HTTPS ports, forwarding to the ready endpoints of each route's Service.
//!
//! It runs in the agent because it is the node's data plane, as DESIGN.md places it: it
//! listens on the node's ports, reaches pods through the node's pod network and routes,
//! and reads the same Service and EndpointSlice caches as the service proxy and cluster
//! DNS (no watches of its own for them). It watches Ingresses, IngressClasses and
//! `kubernetes.io/tls` Secrets itself, so it needs rights to read them: `tug up`'s agent has
//! them; a joined node's `system:node` credentials do not, so `tug agent` runs it only when
//! asked (`--ingress-http`/`--ingress-https`) and the node is granted them.
//!
//! [`routes`] is the route table (pure), [`certs`] the certificates chosen by SNI,
//! [`forward`] the listeners and the proxying. Every change to the watched objects
//! rebuilds the table and the certificates, swapped in whole; problems (a missing Service,
//! a bad TLS Secret) are logged and posted as Warning Events on the Ingress once each, and
//! its routes answer 503 naming the problem. Each served Ingress gets the node's address in
//! `status.loadBalancer.ingress`.

pub mod certs;
pub mod forward;
pub mod routes;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use serde_json::json;
use tokio::sync::watch;

use crate::Error;
use certs::{Certs, Resolver};
use forward::Shared;
use routes::{Problem, CONTROLLER, DEFAULT_CLASS};

/// The IngressClass made at start.
pub const CLASS: &str = "tug";
/// How long a rebuild waits for more changes after the first.
const GATHER: Duration = Duration::from_millis(50);

/// Where the ingress listens; neither set: no ingress on this node.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
}

/// Serves the Ingresses until the watches end. `services` and `slices` are the service
/// proxy's caches (`crate::proxy::caches`), `changed` is told of each of their changes.
pub async fn run(
    client: Client,
    options: Options,
    node_name: String,
    node_ip: Ipv4Addr,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    mut changed: watch::Receiver<()>,
) -> Result<(), Error> {
    if options.http.is_none() && options.https.is_none() {
        return std::future::pending().await;
    }
    ensure_class(&client).await;
    let fallback = certs::self_signed()?;
    let shared = Arc::new(Shared::default());
    let resolver = Arc::new(Resolver(RwLock::new(Arc::new(Certs::empty(&fallback)))));
    // A port that cannot be had leaves the node running without that listener (and says so).
    if let Some(addr) = options.http {
        match forward::bind(addr, "--ingress-http").await {
            Ok(listener) => {
                tokio::spawn(forward::serve(listener, None, shared.clone()));
            }
            Err(e) => eprintln!("tug agent: {e}"),
        }
    }
    if let Some(addr) = options.https {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(certs::server_config(resolver.clone())?));
        match forward::bind(addr, "--ingress-https").await {
            Ok(listener) => {
                tokio::spawn(forward::serve(listener, Some(acceptor), shared.clone()));
            }
            Err(e) => eprintln!("tug agent: {e}"),
        }
    }

    let (ingresses, ingresses_writer) = reflector::store::<Ingress>();
    let (classes, classes_writer) = reflector::store::<IngressClass>();
    let (secrets, secrets_writer) = reflector::store::<Secret>();
    let ingress_events = watcher::watcher(Api::<Ingress>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(ingresses_writer)
        .map(|_| ());
    let class_events = watcher::watcher(Api::<IngressClass>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(classes_writer)
        .map(|_| ());
    let tls_secrets = watcher::Config::default().fields("type=kubernetes.io/tls");
    let secret_events = watcher::watcher(Api::<Secret>::all(client.clone()), tls_secrets).default_backoff().reflect(secrets_writer).map(|_| ());
    let events = futures_util::stream::select(futures_util::stream::select(ingress_events, class_events), secret_events);
    let mut events = std::pin::pin!(events);
    // The caches fill as the watches are polled: drive them until each has listed once.
    let ready = async {
        let _ = ingresses.wait_until_ready().await;
        let _ = classes.wait_until_ready().await;
        let _ = secrets.wait_until_ready().await;
    };
    tokio::pin!(ready);
    loop {
        tokio::select! {
            _ = &mut ready => break,
            event = events.next() => if event.is_none() {
                return Err(Error::Internal("the ingress controller's watches ended".into()));
            },
        }
    }

    let mut reported = HashSet::new();
    loop {
        let table = routes::build(&ingresses.state(), &classes.state(), &services.state(), &slices.state());
        let mut problems = table.problems.clone();
        let certs = Certs::build(&table.tls, &secrets.state(), &fallback, &mut problems);
        let served = table.ingresses.clone();
        if let Ok(mut current) = resolver.0.write() {
            *current = Arc::new(certs);
        }
        if let Ok(mut current) = shared.table.write() {
            *current = Arc::new(table);
        }
        report(&client, &node_name, problems, &mut reported).await;
        announce(&client, &ingresses, &served, node_ip).await;
        // Wait for a change, then gather the burst that follows it.
        tokio::select! {
            event = events.next() => if event.is_none() {
                return Err(Error::Internal("the ingress controller's watches ended".into()));
            },
            _ = changed.changed() => {}
        }
        let gather = tokio::time::sleep(GATHER);
        tokio::pin!(gather);
        loop {
            tokio::select! {
                _ = &mut gather => break,
                event = events.next() => if event.is_none() { break },
                _ = changed.changed() => {}
            }
        }
    }
}

/// Makes the IngressClass `tug`, the cluster's default, unless it exists (a user's changes
/// to it stay).
async fn ensure_class(client: &Client) {
    let class = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": CLASS, "annotations": {DEFAULT_CLASS: "true"}},
        "spec": {"controller": CONTROLLER},
    });
    let Ok(class) = serde_json::from_value::<IngressClass>(class) else { return };
    match Api::<IngressClass>::all(client.clone()).create(&PostParams::default(), &class).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => eprintln!("tug agent: ingress: create IngressClass {CLASS}: {e}"),
    }
}

/// Logs and posts a Warning Event for each problem not reported yet; forgets the ones gone,
/// so a problem that comes back is reported again.
async fn report(client: &Client, node_name: &str, problems: Vec<Problem>, reported: &mut HashSet<Problem>) {
    let current: HashSet<Problem> = problems.into_iter().collect();
    for problem in current.difference(reported) {
        let at = &problem.ingress;
        eprintln!("tug agent: ingress {}/{}: {}", at.namespace, at.name, problem.message);
        let involved = json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "namespace": at.namespace, "name": at.name, "uid": at.uid,
        });
        crate::events::post(client, involved, ("tug-ingress", node_name), "Warning", problem.reason, &problem.message).await;
    }
    *reported = current;
}

/// Adds the node's address to the `status.loadBalancer.ingress` of each served Ingress
/// lacking it (keeping other nodes' addresses).
async fn announce(client: &Client, ingresses: &Store<Ingress>, served: &[routes::IngressRef], node_ip: Ipv4Addr) {
    let ip = node_ip.to_string();
    for at in served {
        let Some(ingress) = ingresses.get(&ObjectRef::new(&at.name).within(&at.namespace)) else { continue };
        let mut list: Vec<serde_json::Value> = ingress
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| serde_json::to_value(i).ok())
            .collect();
        if list.iter().any(|i| i["ip"] == ip.as_str()) {
            continue;
        }
        list.push(json!({"ip": ip}));
        let status = json!({"status": {"loadBalancer": {"ingress": list}}});
        let api: Api<Ingress> = Api::namespaced(client.clone(), &at.namespace);
        if let Err(e) = api.patch_status(&at.name, &PatchParams::default(), &Patch::Merge(&status)).await {
            eprintln!("tug agent: ingress {}/{}: set its load balancer address: {e}", at.namespace, at.name);
        }
    }
}
