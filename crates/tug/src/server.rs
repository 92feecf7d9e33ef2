//! `tug server` (the control plane: the API server over the embedded store, and
//! the scheduler and controllers talking to it with the admin kubeconfig) and `tug kubeconfig`
//! (prints the admin kubeconfig it wrote).

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
    /// Do not run the scheduler in this process (run `tug scheduler` elsewhere)
    #[arg(long)]
    disable_scheduler: bool,
    /// Do not run the controllers (service accounts, resource quotas) in this process
    #[arg(long)]
    disable_controllers: bool,
    /// Admission plugins to turn off, comma-separated (e.g. PodSecurity,ResourceQuota)
    #[arg(long, value_delimiter = ',')]
    disable_admission_plugins: Vec<String>,
    /// A file of static bearer tokens: `token,user,uid,"group1,group2"` per line
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
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
            tug_controllers::run(client, tug_controllers::Options { root_ca_pem })
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
    print!("{text}");
    Ok(())
}
