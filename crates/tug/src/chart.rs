//! `tug chart`: Helm-compatible charts over the `tug-chart` crate: render, show, lint,
//! package, and releases in a cluster (install, upgrade, rollback, uninstall, list,
//! history, status, get, test) through `tug_release`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use tug_chart::repo::{config::RepoFile, fetch, index::IndexFile, Settings};
use tug_chart::{Capabilities, Release, TemplateOptions, UserValues};
use tug_release::{InstallOptions, Releases, RollbackOptions, Status, UpgradeOptions};

pub const TEMPLATE_ABOUT: &str =
    "Render a chart's templates locally and print the manifests, as `helm template`";

#[derive(clap::Subcommand, Debug)]
pub enum ChartCommand {
    #[command(about = TEMPLATE_ABOUT)]
    Template(TemplateArgs),
    /// Show a chart's values, Chart.yaml, README or values schema
    Show {
        #[arg(value_enum)]
        what: ShowWhat,
        /// Chart directory, .tgz, REPO/NAME, URL or oci://HOST/PATH/NAME
        chart: String,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Check a chart: it loads, its values pass the schema, its templates render to valid YAML
    Lint {
        chart: PathBuf,
        #[command(flatten)]
        values: ValuesArgs,
    },
    /// Package a chart directory as NAME-VERSION.tgz (and sign it: NAME-VERSION.tgz.prov)
    Package {
        chart: PathBuf,
        /// Directory to write the archive to
        #[arg(short = 'd', long, default_value = ".")]
        destination: PathBuf,
        /// Write a provenance file signed with --key from --keyring
        #[arg(long, requires = "key")]
        sign: bool,
        /// The signing key: a unique part of its user ID (name or email)
        #[arg(long)]
        key: Option<String>,
        /// Secret keyring (gpg --export-secret-keys > FILE)
        #[arg(long, default_value_os_t = default_keyring("secring.gpg"))]
        keyring: PathBuf,
        /// A file whose first line is the key's passphrase
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Check a packaged chart against its provenance file (CHART.tgz.prov) and a keyring
    Verify {
        chart: PathBuf,
        /// Public keyring (gpg --export > FILE, binary or armored)
        #[arg(long, default_value_os_t = default_keyring("pubring.gpg"))]
        keyring: PathBuf,
    },
    /// Install a chart as a release: NAME CHART
    Install(InstallArgs),
    /// Upgrade a release to a chart (or new values): NAME CHART
    Upgrade(UpgradeArgs),
    /// Roll a release back to an earlier revision (default: the previous one)
    Rollback {
        name: String,
        revision: Option<i64>,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Uninstall a release: delete its objects (but those with helm.sh/resource-policy: keep) and its history
    #[command(alias = "delete")]
    Uninstall {
        names: Vec<String>,
        /// Keep the release history, marked uninstalled
        #[arg(long)]
        keep_history: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List releases (latest revision of each)
    #[command(alias = "ls")]
    List {
        /// Releases of every namespace
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Every status, not only deployed, failed and pending
        #[arg(short = 'a', long)]
        all: bool,
        /// table, json or yaml
        #[arg(short = 'o', long, default_value = "table")]
        output: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// A release's revisions
    #[command(alias = "hist")]
    History {
        name: String,
        /// table, json or yaml
        #[arg(short = 'o', long, default_value = "table")]
        output: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// A release's status
    Status {
        name: String,
        /// A revision other than the latest
        #[arg(long, default_value_t = 0)]
        revision: i64,
        /// Show the description of the revision
        #[arg(long)]
        show_desc: bool,
        /// table, json or yaml
        #[arg(short = 'o', long, default_value = "table")]
        output: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// A release's values, manifest, notes or hooks
    Get {
        #[arg(value_enum)]
        what: GetWhat,
        name: String,
        /// A revision other than the latest
        #[arg(long, default_value_t = 0)]
        revision: i64,
        /// values: the computed values (chart defaults included), not only the user's
        #[arg(short = 'a', long)]
        all: bool,
        /// values: yaml or json
        #[arg(short = 'o', long, default_value = "yaml")]
        output: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Chart repositories: add, update, list, remove, index, serve
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Search the added repositories' charts
    #[command(subcommand)]
    Search(SearchCommand),
    /// Download a chart from a repository: REPO/NAME, URL or oci://HOST/PATH/NAME
    Pull {
        chart: String,
        #[command(flatten)]
        source: SourceArgs,
        /// Directory to write the archive to
        #[arg(short = 'd', long, default_value = ".")]
        destination: PathBuf,
        /// Unpack the archive into the destination
        #[arg(long)]
        untar: bool,
    },
    /// Upload a packaged chart to an OCI registry: CHART.tgz oci://HOST/PATH (stored as
    /// HOST/PATH/NAME:VERSION, with CHART.tgz.prov when present)
    Push {
        chart: PathBuf,
        remote: String,
        #[command(flatten)]
        registry: crate::image::RegistryArgs,
    },
    /// A chart's dependencies: update (newest matching, writes Chart.lock), build (from Chart.lock), list
    #[command(subcommand, alias = "dep")]
    Dependency(DependencyCommand),
    /// Create a new chart directory
    Create { name: String },
    /// Run a release's test hooks
    Test {
        name: String,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum RepoCommand {
    /// Add a chart repository: NAME URL
    Add {
        name: String,
        url: String,
        #[arg(long, default_value = "")]
        username: String,
        #[arg(long, default_value = "")]
        password: String,
        /// Replace a repository of the same name
        #[arg(long)]
        force_update: bool,
    },
    /// Fetch the latest indexes (all repositories, or those named)
    #[command(alias = "up")]
    Update { names: Vec<String> },
    /// List the added repositories
    #[command(alias = "ls")]
    List {
        /// table, json or yaml
        #[arg(short = 'o', long, default_value = "table")]
        output: String,
    },
    /// Remove repositories
    #[command(alias = "rm")]
    Remove { names: Vec<String> },
    /// Write DIR/index.yaml for the chart archives in DIR
    Index {
        dir: PathBuf,
        /// URL of the repository (chart URLs are relative when absent)
        #[arg(long, default_value = "")]
        url: String,
        /// Keep the entries of this index that DIR lacks
        #[arg(long)]
        merge: Option<PathBuf>,
    },
    /// Serve DIR as a chart repository over HTTP
    Serve {
        dir: PathBuf,
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:8879")]
        address: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum SearchCommand {
    /// Search the added repositories for charts whose name, description or keywords match
    Repo {
        keyword: Option<String>,
        /// Every version, not only the newest
        #[arg(short = 'l', long)]
        versions: bool,
        /// Version constraint
        #[arg(long, default_value = "")]
        version: String,
        /// table, json or yaml
        #[arg(short = 'o', long, default_value = "table")]
        output: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum DependencyCommand {
    /// Fetch the newest versions that satisfy Chart.yaml into charts/ and write Chart.lock
    #[command(alias = "up")]
    Update { chart: PathBuf },
    /// Fetch the versions Chart.lock names into charts/
    Build { chart: PathBuf },
    /// List the declared dependencies and whether charts/ holds them
    #[command(alias = "ls")]
    List { chart: PathBuf },
}

#[derive(clap::ValueEnum, Clone, Debug)]
pub enum GetWhat {
    Values,
    Manifest,
    Notes,
    Hooks,
}

/// Which cluster and namespace.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use
    #[arg(long)]
    kube_context: Option<String>,
    /// Namespace of the release (default: the context's)
    #[arg(short = 'n', long)]
    namespace: Option<String>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct WaitArgs {
    /// Wait until Deployments, StatefulSets, DaemonSets, Pods and PVCs are ready
    #[arg(long)]
    wait: bool,
    /// How long to wait for each operation, hooks included (Go duration)
    #[arg(long, default_value = "5m0s")]
    timeout: String,
}

impl WaitArgs {
    fn timeout(&self) -> anyhow::Result<std::time::Duration> {
        let ns = tug_gotemplate::funcs::dates::parse_duration(&self.timeout)
            .map_err(|e| anyhow::anyhow!("invalid --timeout {:?}: {e}", self.timeout))?;
        Ok(std::time::Duration::from_nanos(ns.max(0) as u64))
    }
}

#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    /// Release name
    name: String,
    /// Chart directory, .tgz, REPO/NAME, URL or oci://HOST/PATH/NAME
    chart: String,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    values: ValuesArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    wait: WaitArgs,
    /// On failure, remove the release (install) or roll it back (upgrade)
    #[arg(long)]
    atomic: bool,
    /// Create the release namespace if missing
    #[arg(long)]
    create_namespace: bool,
    /// Do not install the chart's crds/
    #[arg(long)]
    skip_crds: bool,
    /// Do not validate values against values.schema.json
    #[arg(long)]
    skip_schema_validation: bool,
    /// A description for the revision
    #[arg(long)]
    description: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct UpgradeArgs {
    #[command(flatten)]
    common: InstallArgs,
    /// Install the release if it does not exist
    #[arg(short = 'i', long)]
    install: bool,
    /// Merge the new values over the last release's
    #[arg(long)]
    reuse_values: bool,
    /// Use only the chart's and the new values
    #[arg(long)]
    reset_values: bool,
}

#[derive(clap::ValueEnum, Clone, Debug)]
pub enum ShowWhat {
    Values,
    Chart,
    Readme,
    Schema,
}

#[derive(clap::Args, Debug)]
pub struct ValuesArgs {
    /// Values file (repeatable; later files win)
    #[arg(short = 'f', long = "values")]
    files: Vec<PathBuf>,
    /// Set values: a.b=c,list[0]=x (types inferred)
    #[arg(long)]
    set: Vec<String>,
    /// Set string values
    #[arg(long = "set-string")]
    set_string: Vec<String>,
    /// Set values from files: key=path
    #[arg(long = "set-file")]
    set_file: Vec<String>,
    /// Set JSON values: key=JSON
    #[arg(long = "set-json")]
    set_json: Vec<String>,
    /// Set a literal string value: key=rest of the argument
    #[arg(long = "set-literal")]
    set_literal: Vec<String>,
}

impl ValuesArgs {
    fn user_values(&self) -> UserValues {
        UserValues {
            files: self.files.clone(),
            set: self.set.clone(),
            set_string: self.set_string.clone(),
            set_file: self.set_file.clone(),
            set_json: self.set_json.clone(),
            set_literal: self.set_literal.clone(),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct TemplateArgs {
    /// [NAME] CHART: release name (default "release-name") and chart directory or .tgz
    #[arg(num_args = 1..=2, required = true)]
    args: Vec<String>,
    #[command(flatten)]
    values: ValuesArgs,
    /// Namespace of the release
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Only print manifests from these templates (path or glob, e.g. templates/x.yaml)
    #[arg(short = 's', long = "show-only")]
    show_only: Vec<String>,
    /// Print the chart's CRDs (crds/) first
    #[arg(long)]
    include_crds: bool,
    /// Leave out test hooks
    #[arg(long)]
    skip_tests: bool,
    /// Kubernetes version for .Capabilities (default v1.33.0)
    #[arg(long)]
    kube_version: Option<String>,
    /// Extra API versions for .Capabilities.APIVersions
    #[arg(short = 'a', long = "api-versions")]
    api_versions: Vec<String>,
    /// Release name from a template, e.g. 'app-{{ randAlpha 5 | lower }}'
    #[arg(long)]
    name_template: Option<String>,
    /// Render as an upgrade instead of an install
    #[arg(long)]
    is_upgrade: bool,
    /// Do not validate values against values.schema.json
    #[arg(long)]
    skip_schema_validation: bool,
    #[command(flatten)]
    source: SourceArgs,
}

/// Where a chart that is not on disk comes from: its version, and how to reach an OCI
/// registry.
#[derive(clap::Args, Debug, Clone)]
pub struct SourceArgs {
    /// Version constraint for a chart from a repository or registry (default: the newest stable)
    #[arg(long, default_value = "")]
    version: String,
    #[command(flatten)]
    registry: crate::image::RegistryArgs,
    /// Verify the chart against its provenance file and --keyring before using it
    #[arg(long)]
    verify: bool,
    /// Public keyring for --verify
    #[arg(long, default_value_os_t = default_keyring("pubring.gpg"))]
    keyring: PathBuf,
}

/// Helm's default keyrings: `~/.gnupg/NAME`.
fn default_keyring(name: &str) -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".gnupg").join(name)
}

/// Checks an archive against its provenance file (`None`: there is none) and `keyring`,
/// printing what vouches for it as `helm verify` does.
fn verify_archive(
    file_name: &str,
    archive: &[u8],
    prov: Option<Vec<u8>>,
    keyring: &std::path::Path,
) -> anyhow::Result<()> {
    let prov = prov.with_context(|| {
        format!("{file_name} has no provenance file ({file_name}.prov): it cannot be verified")
    })?;
    let ring =
        std::fs::read(keyring).with_context(|| format!("reading keyring {}", keyring.display()))?;
    let v = tug_chart::provenance::verify(
        &String::from_utf8_lossy(&prov),
        file_name,
        archive,
        &ring,
        &keyring.display().to_string(),
    )?;
    for who in &v.signed_by {
        eprintln!("Signed by: {who}");
    }
    eprintln!("Using Key With Fingerprint: {}", v.fingerprint);
    eprintln!("Chart Hash Verified: {}", v.hash);
    Ok(())
}

/// A chart archive that is not in a registry (a `.tgz` on disk, `REPO/NAME` or a URL),
/// verified against its `.prov`.
fn fetch_verified(reference: &str, source: &SourceArgs) -> anyhow::Result<fetch::Found> {
    let path = std::path::Path::new(reference);
    let (found, prov) = if path.is_dir() {
        anyhow::bail!("--verify needs a packaged chart (.tgz), not the directory {reference}");
    } else if path.exists() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {reference}"))?;
        let prov_path = PathBuf::from(format!("{reference}.prov"));
        let prov = prov_path
            .exists()
            .then(|| std::fs::read(&prov_path))
            .transpose()?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (
            fetch::Found {
                file_name,
                url: None,
                bytes,
                version: String::new(),
            },
            prov,
        )
    } else {
        let found = fetch::locate(&Settings::from_env(), reference, &source.version)?;
        let url = found.url.clone().unwrap_or_default();
        let prov = fetch::get(&format!("{url}.prov"), None).ok();
        (found, prov)
    };
    verify_archive(&found.file_name, &found.bytes, prov, &source.keyring)?;
    Ok(found)
}

/// An `oci://…` chart pulled at `--version`, its signature checked with `--verify`.
fn pull_oci(reference: &str, source: &SourceArgs) -> anyhow::Result<tug_chart::oci::Pulled> {
    let pulled = crate::chart_oci::pull(reference, &source.version, &source.registry.options()?)?;
    if source.verify {
        verify_archive(&pulled.file_name(), &pulled.archive, pulled.provenance.clone(), &source.keyring)?;
    }
    Ok(pulled)
}

/// A chart from disk, `REPO/NAME`/URL through the added repositories, or `oci://…`.
fn load_chart(reference: &str, source: &SourceArgs) -> anyhow::Result<tug_chart::Chart> {
    if tug_chart::oci::is_oci(reference) {
        let pulled = pull_oci(reference, source)?;
        return Ok(tug_chart::load_archive(
            &pulled.file_name(),
            &pulled.archive,
        )?);
    }
    if source.verify {
        let found = fetch_verified(reference, source)?;
        return Ok(tug_chart::load_archive(&found.file_name, &found.bytes)?);
    }
    Ok(tug_chart::repo::fetch::load_chart(
        &Settings::from_env(),
        reference,
        &source.version,
    )?)
}

/// [`load_chart`] off the async runtime (repositories are fetched with a blocking client).
async fn load_chart_async(
    reference: &str,
    source: &SourceArgs,
) -> anyhow::Result<tug_chart::Chart> {
    let (r, s) = (reference.to_string(), source.clone());
    tokio::task::spawn_blocking(move || load_chart(&r, &s)).await?
}

/// Group/versions (and group/version/kind) the API server serves, for `.Capabilities`.
fn served_api_versions() -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for t in tug_api::registry::all() {
        let gv = if t.group.is_empty() {
            t.version.to_string()
        } else {
            format!("{}/{}", t.group, t.version)
        };
        out.insert(format!("{gv}/{}", t.kind));
        out.insert(gv);
    }
    out.into_iter().collect()
}

impl ChartCommand {
    /// Whether the command serves until stopped (`repo serve`) rather than ending soon.
    pub fn serves(&self) -> bool {
        matches!(self, ChartCommand::Repo(RepoCommand::Serve { .. }))
    }
}

pub fn run(cmd: ChartCommand) -> anyhow::Result<()> {
    match cmd {
        ChartCommand::Template(args) => template(args),
        ChartCommand::Show {
            what,
            chart,
            source,
        } => show(what, load_chart(&chart, &source)?),
        ChartCommand::Repo(cmd) => repo(cmd),
        ChartCommand::Search(SearchCommand::Repo {
            keyword,
            versions,
            version,
            output,
        }) => search(
            keyword.as_deref().unwrap_or(""),
            versions,
            &version,
            &output,
        ),
        ChartCommand::Pull {
            chart,
            source,
            destination,
            untar,
        } => pull(&chart, &source, &destination, untar),
        ChartCommand::Push {
            chart,
            remote,
            registry,
        } => {
            let (pushed, digest) = crate::chart_oci::push(&chart, &remote, &registry.options()?)?;
            println!("Pushed: {pushed}\nDigest: {digest}");
            Ok(())
        }
        ChartCommand::Dependency(cmd) => dependency(cmd),
        ChartCommand::Create { name } => {
            let path = std::path::Path::new(&name);
            let parent = path.parent().unwrap_or(std::path::Path::new(""));
            let base = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let dir = tug_chart::create::create(parent, &base)?;
            println!("Creating {}", dir.display());
            Ok(())
        }
        ChartCommand::Lint { chart, values } => lint(chart, values),
        ChartCommand::Package {
            chart,
            destination,
            sign,
            key,
            keyring,
            passphrase_file,
        } => {
            let path = tug_chart::package(&chart, &destination)?;
            if sign {
                sign_archive(
                    &path,
                    key.as_deref().unwrap_or_default(),
                    &keyring,
                    passphrase_file.as_deref(),
                )?;
            }
            println!(
                "Successfully packaged chart and saved it to: {}",
                path.display()
            );
            Ok(())
        }
        ChartCommand::Verify { chart, keyring } => {
            let bytes =
                std::fs::read(&chart).with_context(|| format!("reading {}", chart.display()))?;
            let prov_path = PathBuf::from(format!("{}.prov", chart.display()));
            let prov = prov_path
                .exists()
                .then(|| std::fs::read(&prov_path))
                .transpose()?;
            let name = chart
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            verify_archive(&name, &bytes, prov, &keyring)
        }
        release_cmd => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(release(release_cmd)),
    }
}

/// Writes `ARCHIVE.prov`, signed with `key` from the secret `keyring`.
fn sign_archive(
    archive: &std::path::Path,
    key: &str,
    keyring: &std::path::Path,
    passphrase_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(archive).with_context(|| format!("reading {}", archive.display()))?;
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let chart = tug_chart::load_archive(&name, &bytes)?;
    let ring =
        std::fs::read(keyring).with_context(|| format!("reading keyring {}", keyring.display()))?;
    let passphrase = match passphrase_file {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading {}", p.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        None => String::new(),
    };
    let prov = tug_chart::provenance::sign(
        &chart.metadata,
        &name,
        &bytes,
        &ring,
        &keyring.display().to_string(),
        key,
        &passphrase,
    )?;
    let out = PathBuf::from(format!("{}.prov", archive.display()));
    std::fs::write(&out, prov).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// `.Capabilities` of the cluster releases go to.
fn cluster_capabilities() -> Capabilities {
    Capabilities {
        api_versions: served_api_versions(),
        ..Capabilities::default()
    }
}

async fn connect(c: &ClusterArgs) -> anyhow::Result<(Releases, String)> {
    let r = Releases::connect(&tug_client::ConnectOptions {
        kubeconfig: c.kubeconfig.clone(),
        context: c.kube_context.clone(),
    })
    .await?;
    let ns = c
        .namespace
        .clone()
        .unwrap_or_else(|| r.default_namespace().to_string());
    Ok((r, ns))
}

fn install_options(a: &InstallArgs, ns: &str) -> anyhow::Result<InstallOptions> {
    Ok(InstallOptions {
        name: a.name.clone(),
        namespace: ns.to_string(),
        values: a.values.user_values().merge()?,
        capabilities: cluster_capabilities(),
        atomic: a.atomic,
        wait: a.wait.wait || a.atomic,
        timeout: a.wait.timeout()?,
        create_namespace: a.create_namespace,
        skip_crds: a.skip_crds,
        skip_schema_validation: a.skip_schema_validation,
        description: a.description.clone(),
    })
}

fn print_structured(output: &str, v: &serde_json::Value) -> anyhow::Result<()> {
    match output {
        "json" => println!("{}", serde_json::to_string(v)?),
        "yaml" => print!("{}", tug_client::printers::to_yaml(v)),
        other => anyhow::bail!("invalid output format {other:?}: use table, json or yaml"),
    }
    Ok(())
}

async fn release(cmd: ChartCommand) -> anyhow::Result<()> {
    use tug_release::report;
    match cmd {
        ChartCommand::Install(a) => {
            let (mut r, ns) = connect(&a.cluster).await?;
            let chart = load_chart_async(&a.chart, &a.source).await?;
            let o = install_options(&a, &ns)?;
            let rec = r
                .install(&chart, &o)
                .await
                .map_err(|e| anyhow::anyhow!("INSTALLATION FAILED: {e}"))?;
            print!("{}", report::status(&rec, false));
        }
        ChartCommand::Upgrade(a) => {
            let (mut r, ns) = connect(&a.common.cluster).await?;
            let chart = load_chart_async(&a.common.chart, &a.common.source).await?;
            let o = UpgradeOptions {
                common: install_options(&a.common, &ns)?,
                install: a.install,
                reuse_values: a.reuse_values,
                reset_values: a.reset_values,
            };
            let existed = r
                .history(&ns, &a.common.name)
                .await?
                .last()
                .is_some_and(|l| l.info.status != Status::Uninstalled);
            let rec = r
                .upgrade(&chart, &o)
                .await
                .map_err(|e| anyhow::anyhow!("UPGRADE FAILED: {e}"))?;
            if !existed {
                println!(
                    "Release \"{}\" does not exist. Installing it now.",
                    rec.name
                );
            } else {
                println!("Release \"{}\" has been upgraded. Happy Helming!", rec.name);
            }
            print!("{}", report::status(&rec, false));
        }
        ChartCommand::Rollback {
            name,
            revision,
            cluster,
            wait,
        } => {
            let (mut r, ns) = connect(&cluster).await?;
            let o = RollbackOptions {
                name,
                namespace: ns,
                revision: revision.unwrap_or(0),
                wait: wait.wait,
                timeout: wait.timeout()?,
            };
            r.rollback(&o)
                .await
                .map_err(|e| anyhow::anyhow!("Rollback failed: {e}"))?;
            println!("Rollback was a success! Happy Helming!");
        }
        ChartCommand::Uninstall {
            names,
            keep_history,
            cluster,
            wait,
        } => {
            if names.is_empty() {
                anyhow::bail!("\"tug chart uninstall\" requires at least 1 argument: RELEASE_NAME");
            }
            let (mut r, ns) = connect(&cluster).await?;
            for name in names {
                let kept = r
                    .uninstall(&ns, &name, keep_history, wait.timeout()?)
                    .await?;
                if !kept.is_empty() {
                    println!("These resources were kept due to the resource policy:");
                    for k in kept {
                        println!("{k}");
                    }
                    println!();
                }
                println!("release \"{name}\" uninstalled");
            }
        }
        ChartCommand::List {
            all_namespaces,
            all,
            output,
            cluster,
        } => {
            let (r, ns) = connect(&cluster).await?;
            let mut recs = r
                .list(if all_namespaces { None } else { Some(&ns) })
                .await?;
            if !all {
                recs.retain(|x| {
                    matches!(x.info.status, Status::Deployed | Status::Failed)
                        || x.info.status.is_pending()
                });
            }
            match output.as_str() {
                "table" => print!("{}", report::list(&recs)),
                o => print_structured(o, &report::list_json(&recs))?,
            }
        }
        ChartCommand::History {
            name,
            output,
            cluster,
        } => {
            let (r, ns) = connect(&cluster).await?;
            let recs = r.history(&ns, &name).await?;
            if recs.is_empty() {
                anyhow::bail!("release: not found");
            }
            match output.as_str() {
                "table" => print!("{}", report::history(&recs)),
                o => print_structured(o, &report::history_json(&recs))?,
            }
        }
        ChartCommand::Status {
            name,
            revision,
            show_desc,
            output,
            cluster,
        } => {
            let (r, ns) = connect(&cluster).await?;
            let rec = r.get(&ns, &name, revision).await?;
            match output.as_str() {
                "table" => print!("{}", report::status(&rec, show_desc)),
                o => print_structured(o, &serde_json::to_value(&rec)?)?,
            }
        }
        ChartCommand::Get {
            what,
            name,
            revision,
            all,
            output,
            cluster,
        } => {
            let (r, ns) = connect(&cluster).await?;
            let rec = r.get(&ns, &name, revision).await?;
            match what {
                GetWhat::Values => {
                    let mut values = serde_json::Value::Object(rec.config.clone());
                    if all {
                        let computed = tug_gotemplate::Value::from(&values);
                        let defaults = tug_gotemplate::Value::from(&rec.chart_values());
                        if let (tug_gotemplate::Value::Map(dst), tug_gotemplate::Value::Map(src)) =
                            (&computed, &defaults)
                        {
                            tug_chart::values::coalesce_tables(dst, src);
                        }
                        values = computed.to_json();
                    }
                    match output.as_str() {
                        "yaml" | "table" => {
                            println!(
                                "{}",
                                if all {
                                    "COMPUTED VALUES:"
                                } else {
                                    "USER-SUPPLIED VALUES:"
                                }
                            );
                            print!("{}", tug_client::printers::to_yaml(&values));
                        }
                        o => print_structured(o, &values)?,
                    }
                }
                GetWhat::Manifest => print!("{}", rec.manifest),
                GetWhat::Notes => println!("NOTES:\n{}", rec.info.notes.trim_end()),
                GetWhat::Hooks => {
                    for h in &rec.hooks {
                        println!("---\n# Source: {}\n{}", h.path, h.manifest);
                    }
                }
            }
        }
        ChartCommand::Test {
            name,
            cluster,
            wait,
        } => {
            let (mut r, ns) = connect(&cluster).await?;
            let (rec, result) = r.test(&ns, &name, wait.timeout()?).await?;
            print!("{}", report::status(&rec, false));
            result?;
        }
        other => anyhow::bail!("not a release command: {other:?}"),
    }
    Ok(())
}

fn template(a: TemplateArgs) -> anyhow::Result<()> {
    let (name, chart_path) = match a.args.as_slice() {
        [chart] => ("release-name".to_string(), chart.clone()),
        [name, chart] => (name.clone(), chart.clone()),
        _ => anyhow::bail!("expected [NAME] CHART"),
    };
    let name = match &a.name_template {
        Some(t) => tug_gotemplate::render(t, &tug_gotemplate::Value::Nil)
            .context("rendering --name-template")?,
        None => name,
    };
    let mut caps = Capabilities {
        api_versions: served_api_versions(),
        ..Capabilities::default()
    };
    caps.api_versions.extend(a.api_versions.iter().cloned());
    if let Some(v) = &a.kube_version {
        caps = caps.with_kube_version(v).map_err(anyhow::Error::msg)?;
    }
    let chart = load_chart(&chart_path, &a.source)?;
    let opts = TemplateOptions {
        release: Release {
            name,
            namespace: a.namespace,
            is_install: !a.is_upgrade,
            is_upgrade: a.is_upgrade,
            revision: 1,
        },
        capabilities: caps,
        values: a.values.user_values().merge()?,
        show_only: a.show_only,
        include_crds: a.include_crds,
        skip_tests: a.skip_tests,
        skip_schema_validation: a.skip_schema_validation,
        // Offline, as `helm template`: `lookup` gives an empty map.
        lookup: None,
    };
    let out = tug_chart::template(&chart, &opts).map_err(|e| match e {
        tug_chart::Error::ManifestYaml { .. } => {
            anyhow::anyhow!("{e}\n\nUse --debug flag to render out invalid YAML")
        }
        e => e.into(),
    })?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn show(what: ShowWhat, chart: tug_chart::Chart) -> anyhow::Result<()> {
    let text = match what {
        ShowWhat::Values => chart.raw_values.clone(),
        ShowWhat::Chart => {
            let json = serde_json::to_value(&chart.metadata)?;
            tug_gotemplate::funcs::yaml::to_yaml(&tug_gotemplate::Value::from(&json))
        }
        ShowWhat::Readme => chart
            .files
            .iter()
            .find(|f| {
                f.name.eq_ignore_ascii_case("README.md")
                    || f.name.eq_ignore_ascii_case("README.txt")
                    || f.name.eq_ignore_ascii_case("README")
            })
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
            .unwrap_or_default(),
        ShowWhat::Schema => chart.schema.clone().unwrap_or_default(),
    };
    print!("{text}");
    if !text.is_empty() && !text.ends_with('\n') {
        println!();
    }
    Ok(())
}

fn lint(path: PathBuf, values: ValuesArgs) -> anyhow::Result<()> {
    println!("==> Linting {}", path.display());
    let result = tug_chart::load(&path).and_then(|chart| {
        let opts = TemplateOptions {
            values: values.user_values().merge()?,
            ..TemplateOptions::default()
        };
        if chart.metadata.is_library() {
            return Ok(());
        }
        tug_chart::template(&chart, &opts).map(|_| ())
    });
    match result {
        Ok(()) => {
            println!("\n1 chart(s) linted, 0 chart(s) failed");
            Ok(())
        }
        Err(e) => {
            println!("[ERROR] {e}\n\nError: 1 chart(s) linted, 1 chart(s) failed");
            anyhow::bail!("1 chart(s) linted, 1 chart(s) failed")
        }
    }
}

fn repo(cmd: RepoCommand) -> anyhow::Result<()> {
    let settings = Settings::from_env();
    match cmd {
        RepoCommand::Add {
            name,
            url,
            username,
            password,
            force_update,
        } => {
            let entry = tug_chart::repo::config::Entry {
                name: name.clone(),
                url,
                username,
                password,
            };
            fetch::add(&settings, entry, force_update)?;
            println!("\"{name}\" has been added to your repositories");
        }
        RepoCommand::Update { names } => {
            let file = RepoFile::load(&settings)?;
            if file.repositories.is_empty() {
                anyhow::bail!("no repositories found. You must add one before updating");
            }
            for n in &names {
                if file.get(n).is_none() {
                    anyhow::bail!("no repositories found matching '{n}'. Nothing will be updated");
                }
            }
            println!("Hang tight while we grab the latest from your chart repositories...");
            let mut failed = Vec::new();
            for e in &file.repositories {
                if !names.is_empty() && !names.contains(&e.name) {
                    continue;
                }
                match fetch::update(&settings, e) {
                    Ok(()) => println!(
                        "...Successfully got an update from the \"{}\" chart repository",
                        e.name
                    ),
                    Err(err) => {
                        println!(
                            "...Unable to get an update from the \"{}\" chart repository ({}):\n\t{err}",
                            e.name, e.url
                        );
                        failed.push(e.name.clone());
                    }
                }
            }
            if !failed.is_empty() {
                anyhow::bail!("failed to update the following repositories: {failed:?}");
            }
            println!("Update Complete. ⎈Happy Helming!⎈");
        }
        RepoCommand::List { output } => {
            let file = RepoFile::load(&settings)?;
            if file.repositories.is_empty() {
                anyhow::bail!("no repositories to show");
            }
            match output.as_str() {
                "table" => {
                    let mut rows = vec![vec!["NAME".to_string(), "URL".to_string()]];
                    rows.extend(
                        file.repositories
                            .iter()
                            .map(|r| vec![r.name.clone(), r.url.clone()]),
                    );
                    print!("{}", tug_client::printers::align(&rows));
                }
                o => {
                    let v: Vec<serde_json::Value> = file
                        .repositories
                        .iter()
                        .map(|r| serde_json::json!({"name": r.name, "url": r.url}))
                        .collect();
                    print_structured(o, &serde_json::Value::Array(v))?;
                }
            }
        }
        RepoCommand::Remove { names } => {
            if names.is_empty() {
                anyhow::bail!("need at least one argument, name of chart repository");
            }
            for n in names {
                fetch::remove(&settings, &n)?;
                println!("\"{n}\" has been removed from your repositories");
            }
        }
        RepoCommand::Index { dir, url, merge } => {
            let mut idx = IndexFile::from_dir(&dir, &url)?;
            if let Some(m) = merge {
                let text = std::fs::read_to_string(&m)
                    .with_context(|| format!("reading {}", m.display()))?;
                idx.merge(IndexFile::parse(&text, &m.display().to_string())?);
            }
            let out = dir.join("index.yaml");
            std::fs::write(&out, idx.to_yaml())
                .with_context(|| format!("writing {}", out.display()))?;
        }
        RepoCommand::Serve { dir, address } => {
            if !dir.is_dir() {
                anyhow::bail!("{} is not a directory", dir.display());
            }
            tug_chart::repo::serve::serve(&dir, &address, |addr| {
                println!(
                    "Serving {} as a chart repository at http://{addr}/",
                    dir.display()
                );
                let _ = std::io::stdout().flush();
            })?;
        }
    }
    Ok(())
}

fn search(keyword: &str, all_versions: bool, version: &str, output: &str) -> anyhow::Result<()> {
    let settings = Settings::from_env();
    let file = RepoFile::load(&settings)?;
    if file.repositories.is_empty() {
        anyhow::bail!("no repositories configured");
    }
    let mut hits = Vec::new();
    for e in &file.repositories {
        let idx = match tug_chart::repo::config::cached_index(&settings, &e.name) {
            Ok(i) => i,
            Err(err) => {
                eprintln!("WARNING: {err}");
                continue;
            }
        };
        hits.extend(tug_chart::repo::index::search(
            &e.name,
            &idx,
            keyword,
            version,
            all_versions,
        )?);
    }
    hits.sort_by(|a, b| a.name.cmp(&b.name));
    match output {
        "table" => {
            if hits.is_empty() {
                println!("No results found");
                return Ok(());
            }
            let mut rows = vec![vec![
                "NAME".to_string(),
                "CHART VERSION".into(),
                "APP VERSION".into(),
                "DESCRIPTION".into(),
            ]];
            for h in &hits {
                rows.push(vec![
                    h.name.clone(),
                    h.chart.metadata.version.clone(),
                    h.chart.metadata.app_version.clone(),
                    h.chart.metadata.description.clone(),
                ]);
            }
            print!("{}", tug_client::printers::align(&rows));
        }
        o => {
            let v: Vec<serde_json::Value> = hits
                .iter()
                .map(|h| {
                    serde_json::json!({
                        "name": h.name,
                        "version": h.chart.metadata.version,
                        "app_version": h.chart.metadata.app_version,
                        "description": h.chart.metadata.description,
                    })
                })
                .collect();
            print_structured(o, &serde_json::Value::Array(v))?;
        }
    }
    Ok(())
}

fn pull(
    reference: &str,
    source: &SourceArgs,
    dest: &std::path::Path,
    untar: bool,
) -> anyhow::Result<()> {
    let (found, prov) = if tug_chart::oci::is_oci(reference) {
        let pulled = pull_oci(reference, source)?;
        let found = fetch::Found {
            file_name: pulled.file_name(),
            url: None,
            version: pulled.metadata.version.clone(),
            bytes: pulled.archive,
        };
        (found, pulled.provenance)
    } else if source.verify {
        let found = fetch_verified(reference, source)?;
        let url = found.url.clone().unwrap_or_default();
        let prov = fetch::get(&format!("{url}.prov"), None).ok();
        (found, prov)
    } else {
        (
            fetch::locate(&Settings::from_env(), reference, &source.version)?,
            None,
        )
    };
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    if untar {
        let chart = tug_chart::load_archive(&found.file_name, &found.bytes)?;
        tug_chart::package::unpack(&found.bytes, &dest.join(chart.name()))?;
    } else {
        let path = dest.join(&found.file_name);
        std::fs::write(&path, &found.bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        // The provenance goes beside the archive when it was verified or came with it.
        if let Some(prov) = prov {
            let p = dest.join(format!("{}.prov", found.file_name));
            std::fs::write(&p, prov).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    Ok(())
}

fn dependency(cmd: DependencyCommand) -> anyhow::Result<()> {
    let settings = Settings::from_env();
    let (chart, fetched) = match cmd {
        DependencyCommand::Update { chart } => {
            let f = tug_chart::repo::deps::update(&settings, &chart)?;
            (chart, f)
        }
        DependencyCommand::Build { chart } => {
            let f = tug_chart::repo::deps::build(&settings, &chart)?;
            (chart, f)
        }
        DependencyCommand::List { chart } => {
            let loaded = tug_chart::load(&chart);
            let meta = match &loaded {
                Ok(c) => c.metadata.dependencies.clone(),
                Err(e) => anyhow::bail!("{e}"),
            };
            let mut rows = vec![vec![
                "NAME".to_string(),
                "VERSION".into(),
                "REPOSITORY".into(),
                "STATUS".into(),
            ]];
            let present: Vec<(String, String)> = loaded
                .map(|c| {
                    c.dependencies
                        .iter()
                        .map(|d| (d.name().to_string(), d.metadata.version.clone()))
                        .collect()
                })
                .unwrap_or_default();
            for d in meta {
                let status = match present.iter().find(|(n, _)| *n == d.name) {
                    Some(_) => "ok",
                    None => "missing",
                };
                rows.push(vec![d.name, d.version, d.repository, status.into()]);
            }
            print!("{}", tug_client::printers::align(&rows));
            return Ok(());
        }
    };
    println!(
        "Saving {} charts into {}",
        fetched.len(),
        chart.join("charts").display()
    );
    for f in fetched {
        println!("Got {} {} from {}", f.name, f.version, f.repository);
    }
    println!("Deleting outdated charts");
    Ok(())
}
