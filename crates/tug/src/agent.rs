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
    #[arg(long, conflicts_with = "server")]
    kubeconfig: Option<PathBuf>,
    /// Join the cluster whose API server is at this URL (with --token and --certificate-authority)
    #[arg(long, requires_all = ["token", "certificate_authority"])]
    server: Option<String>,
    /// A bootstrap token (`tug token create`, or the server's <data-dir>/token)
    #[arg(long, env = "TUG_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The cluster CA certificate (the server's <data-dir>/tls/ca.crt) the server is checked against
    #[arg(long)]
    certificate_authority: Option<PathBuf>,
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
    /// Serve Ingresses over HTTP on this address (tug up's default: 0.0.0.0:80; tug agent serves none unless given)
    #[arg(long, value_name = "ADDR")]
    ingress_http: Option<SocketAddr>,
    /// Serve Ingresses over HTTPS on this address (tug up's default: 0.0.0.0:443; tug agent serves none unless given)
    #[arg(long, value_name = "ADDR")]
    ingress_https: Option<SocketAddr>,
    /// Run no ingress controller on this node
    #[arg(long, conflicts_with_all = ["ingress_http", "ingress_https"])]
    disable_ingress: bool,
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

    /// Where the ingress listens: the addresses given, else (`by_default`, as `tug up`) the
    /// node's ports 80 and 443.
    fn ingress(&self, by_default: bool) -> tug_agent::ingress::Options {
        if self.disable_ingress {
            return tug_agent::ingress::Options::default();
        }
        let default = |port| by_default.then(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
        tug_agent::ingress::Options {
            http: self.ingress_http.or_else(|| default(80)),
            https: self.ingress_https.or_else(|| default(443)),
        }
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
    /// Another address or DNS name the API server's certificate is valid for (repeatable)
    #[arg(long = "tls-san", value_name = "NAME")]
    tls_sans: Vec<String>,
    /// Address pods reach the API at (the `kubernetes` Service's endpoint); default: the
    /// bind address, or the node's address when binding to all
    #[arg(long)]
    advertise_address: Option<IpAddr>,
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

/// The API client, and the CA certificates (DER) the kubeconfig trusts: the cluster CA,
/// which also signs the API server's client certificate the agent's endpoint accepts.
async fn client(kubeconfig: Option<PathBuf>) -> anyhow::Result<(kube::Client, Vec<Vec<u8>>)> {
    let connect = tug_client::config::ConnectOptions { kubeconfig, context: None };
    let config = tug_client::config::load(&connect).await?;
    let ca = config.root_cert.clone().unwrap_or_default();
    Ok((kube::Client::try_from(config).context("failed to build the agent's API client")?, ca))
}

/// The node's kubeconfig from joining with a bootstrap token, kept in the agent's data
/// dir so that a restarted agent reuses its credentials.
async fn joined_kubeconfig(args: &AgentArgs, options: &tug_agent::Options) -> anyhow::Result<Option<PathBuf>> {
    let (Some(server), Some(token), Some(ca)) = (&args.server, &args.token, &args.certificate_authority) else {
        return Ok(None);
    };
    if tug_apiserver::authn::bootstrap::parse_token(token.trim()).is_none() {
        anyhow::bail!("--token: not a bootstrap token (<6 characters [a-z0-9]>.<16 characters [a-z0-9]>)");
    }
    let path = options.data_dir.join("kubeconfig.yaml");
    if path.exists() {
        return Ok(Some(path));
    }
    let ca_pem = std::fs::read(ca).with_context(|| format!("failed to read --certificate-authority {}", ca.display()))?;
    let kubeconfig = tug_agent::join::join(server, token.trim(), &ca_pem, &options.node_name).await?;
    std::fs::create_dir_all(&options.data_dir).with_context(|| format!("failed to create {}", options.data_dir.display()))?;
    tug_apiserver::tls::write_private(&path, kubeconfig.as_bytes())?;
    eprintln!("tug agent: joined {server} as node {}", options.node_name);
    Ok(Some(path))
}

pub fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let mut options = args.node.options();
    options.ingress = args.node.ingress(false);
    runtime()?.block_on(async {
        let kubeconfig = joined_kubeconfig(&args, &options).await?.or(args.kubeconfig.clone());
        let (client, ca) = client(kubeconfig).await?;
        options.client_ca = ca;
        eprintln!("tug agent: node {} ({})", options.node_name, options.node_ip);
        tokio::select! {
            result = tug_agent::run(client, options) => result.context("the agent stopped"),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

pub fn up(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut options = args.node.options();
    options.ingress = args.node.ingress(true);
    let data_dir = args.node.data_dir;
    runtime()?.block_on(async {
        let store_dir = data_dir.join("db");
        let store = tug_store::SqliteStore::open(&store_dir)
            .with_context(|| format!("failed to open the store in {}", store_dir.display()))?;
        let store: Arc<dyn tug_store::Store> = Arc::new(store);
        let mut config = tug_apiserver::Config::new(data_dir.clone(), SocketAddr::new(args.bind_address, args.port), store.clone());
        config.tls_sans = args.tls_sans.clone();
        config.advertise_address = crate::server::advertise_address(args.bind_address, args.advertise_address, options.node_ip.into());
        let server = tug_apiserver::start(config).await?;
        // More nodes join with `tug agent --server URL --token $(cat <data-dir>/token) --certificate-authority <data-dir>/tls/ca.crt`.
        let token_file = data_dir.join("token");
        tug_apiserver::authn::bootstrap::ensure_join_token(store.as_ref(), &token_file).await?;
        let kubeconfig = server.kubeconfig().to_path_buf();
        let (client, ca) = client(Some(kubeconfig.clone())).await?;
        options.client_ca = ca;
        // The core.oam.dev kinds (OAM Applications) are served from the start.
        tug_controllers::application::install_definitions(&client)
            .await
            .context("failed to install the core.oam.dev CustomResourceDefinitions")?;
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
    /// Keep the node's network and UTS namespaces (a hostNetwork pod)
    #[arg(long)]
    host_network: bool,
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
    match tug_agent::sandbox::hold(&args.hostname, args.host_network)? {}
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
