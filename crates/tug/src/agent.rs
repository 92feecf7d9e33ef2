//! `tug agent` (the node agent against any API server) and `tug up` (the
//! single-node cluster: store, API server, scheduler, controllers and agent in one
//! process on the embedded store).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// The kubeconfig to reach the API server with (default: as kubectl finds it)
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(clap::Args, Debug)]
struct NodeArgs {
    /// The Node's name (default: the host name)
    #[arg(long)]
    node_name: Option<String>,
    /// Where the agent keeps its state and pods' files
    #[arg(long, default_value = "/var/lib/tug")]
    data_dir: PathBuf,
    /// The node's InternalIP (default: the first address of an interface that is up)
    #[arg(long)]
    node_ip: Option<Ipv4Addr>,
    /// The port the agent serves logs and exec on
    #[arg(long, default_value_t = 10250)]
    agent_port: u16,
}

impl NodeArgs {
    fn options(&self) -> tug_agent::Options {
        let mut options = tug_agent::Options::new(self.data_dir.join("agent"));
        if let Some(name) = &self.node_name {
            options.node_name = name.clone();
        }
        if let Some(ip) = self.node_ip {
            options.node_ip = ip;
        }
        options.port = self.agent_port;
        options.image_dir = self.data_dir.join("image");
        options
    }
}

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// HTTPS port of the API server
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Address the API server listens on
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// How long a node's Lease may go unrenewed before it is NotReady/Unknown and tainted unreachable
    #[arg(long, default_value = "40s", value_parser = crate::server::parse_grace_period)]
    node_monitor_grace_period: std::time::Duration,
    #[command(flatten)]
    node: NodeArgs,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

async fn client(kubeconfig: Option<PathBuf>) -> anyhow::Result<kube::Client> {
    let connect = tug_client::config::ConnectOptions { kubeconfig, context: None };
    kube::Client::try_from(tug_client::config::load(&connect).await?).context("failed to build the agent's API client")
}

pub fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let options = args.node.options();
    runtime()?.block_on(async {
        let client = client(args.kubeconfig).await?;
        eprintln!("tug agent: node {} ({})", options.node_name, options.node_ip);
        tokio::select! {
            result = tug_agent::run(client, options) => result.context("the agent stopped"),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

pub fn up(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let options = args.node.options();
    let data_dir = args.node.data_dir;
    runtime()?.block_on(async {
        let store_dir = data_dir.join("db");
        let store = tug_store::SqliteStore::open(&store_dir)
            .with_context(|| format!("failed to open the store in {}", store_dir.display()))?;
        let config = tug_apiserver::Config::new(data_dir.clone(), SocketAddr::new(args.bind_address, args.port), Arc::new(store));
        let server = tug_apiserver::start(config).await?;
        let kubeconfig = server.kubeconfig().to_path_buf();
        let client = client(Some(kubeconfig.clone())).await?;
        let node_name = options.node_name.clone();
        let ca_path = data_dir.join("tls").join("ca.crt");
        let root_ca_pem = std::fs::read_to_string(&ca_path)
            .with_context(|| format!("failed to read the cluster CA {}", ca_path.display()))?;
        let controllers = tug_controllers::run(client.clone(), tug_controllers::Options { root_ca_pem, node_monitor_grace_period: args.node_monitor_grace_period });
        let scheduler = tug_scheduler::run(client.clone(), tug_scheduler::Options::default());
        let agent = tug_agent::run(client.clone(), options);
        let ready = tug_agent::wait_ready(&client, &node_name);
        tokio::pin!(controllers, scheduler, agent, ready);
        let mut announced = false;
        loop {
            tokio::select! {
                _ = &mut ready, if !announced => {
                    announced = true;
                    eprintln!(
                        "tug up: node {node_name} Ready in {} ms; API on https://{}\n\
                         use kubectl with:  export KUBECONFIG={}\n\
                         then e.g.:         kubectl get nodes",
                        started.elapsed().as_millis(),
                        server.addr(),
                        kubeconfig.display(),
                    );
                }
                result = &mut scheduler => return result.context("the scheduler stopped"),
                result = &mut controllers => return result.context("the controllers stopped"),
                result = &mut agent => return result.context("the agent stopped"),
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("tug up: shutting down");
                    return Ok(());
                }
            }
        }
    })
}

/// The hidden modes the agent starts the `tug` binary in.
#[derive(clap::Args, Debug)]
pub struct SandboxArgs {
    /// The pod's name, the sandbox's host name
    #[arg(long)]
    hostname: String,
}

#[derive(clap::Args, Debug)]
pub struct ShimArgs {
    #[arg(long)]
    root: PathBuf,
    #[arg(long)]
    id: String,
    #[arg(long)]
    bundle: PathBuf,
    #[arg(long)]
    log: PathBuf,
    #[arg(long)]
    record: PathBuf,
}

pub fn sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    match tug_agent::sandbox::hold(&args.hostname)? {}
}

pub fn shim(args: ShimArgs) -> i32 {
    tug_agent::shim::supervise(&tug_agent::shim::Paths {
        root: args.root,
        id: args.id,
        bundle: args.bundle,
        log: args.log,
        record: args.record,
    })
}
