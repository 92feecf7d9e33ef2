//! `tug server` (the control plane: the API server over the embedded store, and
//! the scheduler and controllers talking to it with the admin kubeconfig) and `tug kubeconfig`
//! (prints the admin kubeconfig it wrote, or issues one for another user).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// Where the store, certificates and kubeconfig live
    #[arg(long, default_value = "/var/lib/tug")]
    data_dir: PathBuf,
    /// HTTPS port of the API server
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Address to listen on
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// Another address or DNS name the serving certificate is valid for (repeatable)
    #[arg(long = "tls-san", value_name = "NAME")]
    tls_sans: Vec<String>,
    /// Address pods reach the API at (the `kubernetes` Service's endpoint); default: the
    /// bind address, or the machine's first address when binding to all
    #[arg(long)]
    advertise_address: Option<IpAddr>,
    /// Do not run the scheduler in this process (run `tug scheduler` elsewhere)
    #[arg(long)]
    disable_scheduler: bool,
    /// Do not run the controllers (service accounts, resource quotas) in this process
    #[arg(long)]
    disable_controllers: bool,
    /// How long a node's Lease may go unrenewed before it is NotReady/Unknown and tainted unreachable
    #[arg(long, default_value = "40s", value_parser = parse_grace_period)]
    node_monitor_grace_period: std::time::Duration,
    /// Admission plugins to turn off, comma-separated (e.g. PodSecurity,ResourceQuota)
    #[arg(long, value_delimiter = ',')]
    disable_admission_plugins: Vec<String>,
    /// A file of static bearer tokens: `token,user,uid,"group1,group2"` per line
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Append an audit log (audit.k8s.io/v1 Events, JSON lines) to this file
    #[arg(long)]
    audit_log_path: Option<PathBuf>,
    /// The audit policy (audit.k8s.io/v1 Policy, YAML); without it every request is logged at Metadata level
    #[arg(long, requires = "audit_log_path")]
    audit_policy_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct SchedulerArgs {
    /// The kubeconfig to reach the API server with (default: as kubectl finds it)
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The `spec.schedulerName` of the pods to schedule
    #[arg(long, default_value = "default-scheduler")]
    scheduler_name: String,
}

#[derive(clap::Args, Debug)]
pub struct KubeconfigArgs {
    /// The data dir of the server
    #[arg(long, default_value = "/var/lib/tug")]
    data_dir: PathBuf,
    /// Issue a client certificate for this user (signed by the cluster CA) instead of
    /// printing the admin kubeconfig
    #[arg(long)]
    user: Option<String>,
    /// A group of the user (repeatable); needs --user
    #[arg(long = "group", requires = "user")]
    groups: Vec<String>,
    /// Write the kubeconfig to this file (mode 0600) instead of printing it
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async {
        let store_dir = args.data_dir.join("db");
        let store = tug_store::SqliteStore::open(&store_dir)
            .with_context(|| format!("failed to open the store in {}", store_dir.display()))?;
        let store: Arc<dyn tug_store::Store> = Arc::new(store);
        let mut config = tug_apiserver::Config::new(
            args.data_dir.clone(),
            SocketAddr::new(args.bind_address, args.port),
            store.clone(),
        );
        config.disabled_admission_plugins = args.disable_admission_plugins.clone();
        config.token_auth_file = args.token_auth_file.clone();
        config.audit_log_path = args.audit_log_path.clone();
        config.audit_policy_file = args.audit_policy_file.clone();
        config.tls_sans = args.tls_sans.clone();
        config.advertise_address = advertise_address(args.bind_address, args.advertise_address, tug_agent::machine::primary_ipv4().into());
        let server = tug_apiserver::start(config).await?;
        let token_file = args.data_dir.join("token");
        tug_apiserver::authn::bootstrap::ensure_join_token(store.as_ref(), &token_file).await?;
        eprintln!("tug server: agents join with the token in {}", token_file.display());
        eprintln!(
            "tug server: serving the Kubernetes API on https://{} (kubeconfig: {})",
            server.addr(),
            server.kubeconfig().display()
        );
        let kubeconfig = server.kubeconfig().to_path_buf();
        // The core.oam.dev kinds (OAM Applications) are served from the start.
        tug_controllers::application::install_definitions(&client(Some(kubeconfig.clone())).await?)
            .await
            .context("failed to install the core.oam.dev CustomResourceDefinitions")?;
        let scheduler = async move {
            if args.disable_scheduler {
                return std::future::pending().await;
            }
            run_scheduler(Some(kubeconfig), tug_scheduler::Options::default()).await
        };
        let ca_path = args.data_dir.join("tls").join("ca.crt");
        let controller_kubeconfig = server.kubeconfig().to_path_buf();
        let controllers = async move {
            if args.disable_controllers {
                return std::future::pending().await;
            }
            let root_ca_pem = std::fs::read_to_string(&ca_path)
                .with_context(|| format!("failed to read the cluster CA {}", ca_path.display()))?;
            let client = client(Some(controller_kubeconfig)).await?;
            let grace = args.node_monitor_grace_period;
            tug_controllers::run(client, tug_controllers::Options { root_ca_pem, node_monitor_grace_period: grace })
                .await
                .context("the controllers stopped")
        };
        tokio::select! {
            _ = server.wait() => {}
            result = scheduler => result?,
            result = controllers => result?,
            _ = tokio::signal::ctrl_c() => eprintln!("tug server: shutting down"),
        }
        Ok(())
    })
}

/// A node monitor grace period (`40s`, `1m`), at least a second.
pub(crate) fn parse_grace_period(text: &str) -> Result<std::time::Duration, String> {
    let seconds = crate::token::parse_duration(text).map_err(|e| e.to_string())?;
    match u64::try_from(seconds) {
        Ok(s) if s > 0 => Ok(std::time::Duration::from_secs(s)),
        _ => Err("must be at least 1s".into()),
    }
}

/// Schedules pods through the API reached with `kubeconfig` until the scheduler stops.
async fn run_scheduler(kubeconfig: Option<PathBuf>, options: tug_scheduler::Options) -> anyhow::Result<()> {
    let client = client(kubeconfig).await?;
    tug_scheduler::run(client, options).await.context("the scheduler stopped")
}

/// An API client from `kubeconfig` (or wherever kubectl would look).
async fn client(kubeconfig: Option<PathBuf>) -> anyhow::Result<kube::Client> {
    let connect = tug_client::config::ConnectOptions { kubeconfig, context: None };
    kube::Client::try_from(tug_client::config::load(&connect).await?)
        .context("failed to build an API client")
}

pub fn scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let options = tug_scheduler::Options {
        scheduler_name: args.scheduler_name,
        ..tug_scheduler::Options::default()
    };
    runtime.block_on(async {
        tokio::select! {
            result = run_scheduler(args.kubeconfig, options) => result,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

pub fn kubeconfig(args: KubeconfigArgs) -> anyhow::Result<()> {
    let path = args.data_dir.join("kubeconfig.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "failed to read {} (has `tug server` started there?)",
            path.display()
        )
    })?;
    let text = match &args.user {
        None => text,
        Some(user) => {
            let server = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("server: "))
                .with_context(|| format!("{} names no server", path.display()))?;
            let pki = tug_apiserver::tls::Pki::load_or_create(&args.data_dir)?;
            let groups: Vec<&str> = args.groups.iter().map(String::as_str).collect();
            pki.user_kubeconfig(server, user, &groups)?
        }
    };
    match &args.output {
        Some(file) => tug_apiserver::tls::write_private(file, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(())
}

/// The `kubernetes` Service's endpoint: `flag` if given, else the bind address unless it is
/// unspecified (all addresses), else `node`.
pub fn advertise_address(bind: IpAddr, flag: Option<IpAddr>, node: IpAddr) -> IpAddr {
    flag.unwrap_or(if bind.is_unspecified() { node } else { bind })
}
