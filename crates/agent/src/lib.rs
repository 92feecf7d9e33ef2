//! The node agent: Tugboat's kubelet.
//!
//! This room registers its Node with the control plane (capacity and allocatable
//! from the machine, addresses, conditions, node info — [`node`], [`machine`]),
//! keeps it alive with a Lease in `kube-node-lease` ([`lease`]) and reports its
//! status. It runs the pods bound to the node ([`pods`]): a sandbox holding each
//! pod's namespaces ([`sandbox`]) wired to the node's bridge (`tug-network`), volumes
//! ([`volumes`]; local-path storage on the node, [`local_path`]), containers made from
//! images of the tug-image store and run by tug-runtime under a supervisor process each
//! ([`spec`], [`env`]; the supervisor — [`shim`], [`supervisor`], [`cri_log`] — is
//! tug-engine's, shared with `tug run`) that logs in the CRI format and outlives the agent.
//! It serves the API server's forwarded `log`, `exec`, `attach` and `portforward`
//! subresources over HTTPS (`server`: `logs`, `exec`, `attach`, `portforward` over the
//! WebSocket channel protocols of `websocket` and `session`), runs probes and hooks
//! (`probes`, `actions`), publishes hostPorts (`host_ports`) and joins with a bootstrap
//! token ([`join`]). It samples the node's and each container's CPU and memory from
//! cgroups and serves them as kubelet's `/stats/summary` (`stats`), which the API
//! server turns into `metrics.k8s.io`. It scrapes the pods annotated
//! `prometheus.io/scrape: "true"` (`scrape`, `prometheus_text`) and serves their series
//! at `/stats/custom`, which the API server turns into `custom.metrics.k8s.io`.
//! It proxies Services to their endpoints with nftables rules ([`proxy`]) and serves
//! cluster DNS ([`dns`]), whose address every pod's resolv.conf names, and serves
//! Ingresses on the node's HTTP/HTTPS ports ([`ingress`]).
//!
//! It talks to the control plane only through the Kubernetes API (kube-rs), exactly
//! as a kubelet does.

pub use tug_engine::{cri_log, shim, supervisor};
mod actions;
mod attach;
pub mod dns;
pub mod env;
mod events;
mod exec;
mod host_ports;
pub mod ingress;
pub mod join;
pub mod lease;
pub mod local_path;
mod logs;
pub mod machine;
mod mounts;
pub mod node;
pub mod pods;
mod portforward;
mod probes;
mod prometheus_text;
pub mod proxy;
mod routes;
pub mod sandbox;
mod scrape;
mod server;
mod session;
mod spdy;
pub mod spec;
mod stats;
pub mod volumes;
mod websocket;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use kube::Client;

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Node's name (default: the host name).
    pub node_name: String,
    /// Where the agent keeps its state, pods' files and images.
    pub data_dir: PathBuf,
    /// The node's InternalIP.
    pub node_ip: Ipv4Addr,
    /// The port the agent serves logs and exec on (`daemonEndpoints.kubeletEndpoint`).
    pub port: u16,
    /// `pods` capacity.
    pub max_pods: u32,
    /// The `tug` binary, started in its hidden modes as pod sandbox and container supervisor.
    pub sandbox_exe: PathBuf,
    /// The tug-image store containers' images come from.
    pub image_dir: PathBuf,
    /// The CA certificates (DER) that sign the client certificates allowed to call the
    /// agent's HTTPS endpoint (the cluster CA: the API server's kubelet client).
    pub client_ca: Vec<Vec<u8>>,
    /// Where the ingress controller listens (none: it does not run on this node).
    pub ingress: ingress::Options,
}

impl Options {
    /// An agent for this machine keeping its files in `data_dir`, every other option at its default.
    pub fn new(data_dir: impl Into<PathBuf>) -> Options {
        Options {
            node_name: machine::hostname(),
            data_dir: data_dir.into(),
            node_ip: machine::primary_ipv4(),
            port: 10250,
            max_pods: 110,
            sandbox_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("tug")),
            image_dir: PathBuf::from(tug_image_default()),
            client_ca: Vec::new(),
            ingress: ingress::Options::default(),
        }
    }
}

fn tug_image_default() -> &'static str {
    tug_image::DEFAULT_DATA_DIR
}

/// What stops the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to {context}: {source}")]
    Api { context: String, source: Box<kube::Error> },
    #[error("internal error: {0}")]
    Internal(String),
    #[error("pod network: {0}")]
    Network(#[from] tug_network::Error),
}

impl Error {
    fn api(context: String, source: kube::Error) -> Error {
        Error::Api { context, source: Box::new(source) }
    }
}

/// The node status is written at least this often, changed or not (kubelet's
/// `nodeStatusReportFrequency`); the Lease is the frequent heartbeat.
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// How often the machine is looked at for changed conditions.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Registers the node and keeps it Ready until an unrecoverable error.
pub async fn run(client: Client, options: Options) -> Result<(), Error> {
    std::fs::create_dir_all(&options.data_dir)
        .map_err(|e| Error::Internal(format!("create data dir {}: {e}", options.data_dir.display())))?;
    let registered = node::register(&client, &options).await?;
    local_path::announce(&client, &options).await?;
    let uid = registered.metadata.uid.clone();
    lease::renew(&client, &options.node_name, uid.as_deref()).await?;
    let mut current = node::report(&client, &options, Some(&registered)).await?;
    let pod_cidr = current.spec.as_ref().and_then(|s| s.pod_cidr.clone()).unwrap_or_else(|| "10.42.0.0/24".into());
    let network = tug_network::Network::new(&options.node_name, &pod_cidr, &options.data_dir.join("network"))?;
    network.ensure_bridge()?;
    tug_network::proxy::prepare_bridge(&network.bridge)?;
    let (services, slices, service_events) = proxy::caches(&client);
    // A node joined with its own credentials (system:node:<name>) may not write Services:
    // it still serves DNS on its bridge, the Service being registered by an agent that may.
    if let Err(e) = dns::register(&client, &options.node_name, network.gateway).await {
        eprintln!("tug agent: {e}");
    }
    let cluster_dns = dns::serve(network.gateway, services.clone(), slices.clone());
    // The ingress reads the same caches; it is told of their changes through `changed`.
    let (changed, changes) = tokio::sync::watch::channel(());
    let service_events = futures_util::StreamExt::inspect(service_events, move |_| {
        changed.send_replace(());
    });
    let ingress = ingress::run(client.clone(), options.ingress.clone(), options.node_name.clone(), options.node_ip, services.clone(), slices.clone(), changes);
    let service_proxy = proxy::run(client.clone(), options.node_name.clone(), options.node_ip, pod_cidr.clone(), services.clone(), slices, service_events);
    tokio::pin!(service_proxy, cluster_dns, ingress);
    let resources = machine::Resources::read(&options.data_dir);
    let images = tug_image::Store::open(&options.image_dir)
        .map_err(|e| Error::Internal(format!("open the image store {}: {e}", options.image_dir.display())))?;
    let node = std::sync::Arc::new(pods::Node {
        client: client.clone(),
        network,
        images,
        runtime_root: options.data_dir.join("runtime"),
        node_ip: options.node_ip.to_string(),
        cpu_millis: resources.cpus as i128 * 1000,
        memory: i128::from(resources.memory_kib) * 1024,
        services,
        options: options.clone(),
        host_ports: host_ports::HostPorts::default(),
    });
    let pods = pods::run(node.clone());
    let (usage, usage_watch) = stats::new(&node);
    let sampler = stats::run(node.clone(), usage.clone());
    let scraper = scrape::run(usage.clone());
    let server = server::serve(node, usage);
    tokio::pin!(pods, server, usage_watch, sampler, scraper);
    let volumes = local_path::run(client.clone(), options.clone());
    let pod_routes = routes::run(client.clone(), options.node_name.clone(), options.node_ip);
    tokio::pin!(volumes, pod_routes);
    let mut lease_tick = tokio::time::interval(lease::RENEW_EVERY);
    let mut check_tick = tokio::time::interval(CHECK_EVERY);
    let mut last_report = tokio::time::Instant::now();
    loop {
        tokio::select! {
            result = &mut pods => return result,
            result = &mut server => return result,
            result = &mut usage_watch => return result,
            result = &mut sampler => return result,
            result = &mut scraper => return result,
            result = &mut service_proxy => return result,
            result = &mut cluster_dns => return result,
            result = &mut ingress => return result,
            result = &mut volumes => return result,
            result = &mut pod_routes => return result,
            _ = lease_tick.tick() => {
                // A failed renewal is retried at the next tick; the node turns NotReady only if they keep failing.
                if let Err(e) = lease::renew(&client, &options.node_name, uid.as_deref()).await {
                    eprintln!("tug agent: {e}");
                }
            }
            _ = check_tick.tick() => {
                let resources = machine::Resources::read(&options.data_dir);
                if conditions_changed(&current, &resources) || last_report.elapsed() >= REPORT_EVERY || !ready_on_server(&client, &options.node_name).await {
                    match node::report(&client, &options, Some(&current)).await {
                        Ok(node) => {
                            current = node;
                            last_report = tokio::time::Instant::now();
                        }
                        Err(e) => eprintln!("tug agent: {e}"),
                    }
                }
            }
        }
    }
}

/// Whether the API still shows the node Ready (the node controller marks it Unknown when
/// heartbeats were missed; kubelet then reports again at once). An unanswered GET says yes:
/// the next check asks again.
async fn ready_on_server(client: &Client, name: &str) -> bool {
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
    let Ok(Some(node)) = nodes.get_opt(name).await else { return true };
    node.status.and_then(|s| s.conditions).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether a pressure condition differs from what the node last reported.
fn conditions_changed(node: &k8s_openapi::api::core::v1::Node, r: &machine::Resources) -> bool {
    let reported = |type_: &str| {
        node.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == type_))
            .map(|c| c.status == "True")
    };
    reported("MemoryPressure") != Some(r.memory_pressure())
        || reported("DiskPressure") != Some(r.disk_pressure())
        || reported("PIDPressure") != Some(r.pid_pressure())
}

/// Returns once the node `name` reports `Ready=True` (watching the Node).
pub async fn wait_ready(client: &Client, name: &str) {
    use futures_util::StreamExt;
    use k8s_openapi::api::core::v1::Node;
    use kube::runtime::watcher;
    let nodes: kube::Api<Node> = kube::Api::all(client.clone());
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = std::pin::pin!(watcher::watcher(nodes, config));
    while let Some(event) = events.next().await {
        let node = match event {
            Ok(watcher::Event::Apply(node) | watcher::Event::InitApply(node)) => node,
            _ => continue,
        };
        let ready = node.status.and_then(|s| s.conditions).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if ready {
            return;
        }
    }
}
