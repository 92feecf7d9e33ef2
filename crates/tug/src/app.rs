//! `tug app`: OAM Applications (`deploy`, `ls`, `status`, `delete`, `dry-run`,
//! `show-definitions`, `rollback`, `resume`) → `tug_client::app`.

use std::io::Write;
use std::path::PathBuf;

use tug_client::{manifest, ApplyMode, ConnectOptions, Error, Session};

#[derive(clap::Subcommand, Debug)]
pub enum AppCommand {
    /// Apply Application (and definition) manifests (server-side apply): created, or updated to a new revision
    Deploy {
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// List Applications, one row per component
    #[command(alias = "list")]
    Ls {
        /// Applications of every namespace
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// yaml or json
        #[arg(short = 'o', long)]
        output: Option<String>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// An Application's phase, revision, workflow, services, policies and unmet conditions
    Status {
        name: String,
        /// yaml or json
        #[arg(short = 'o', long)]
        output: Option<String>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Delete an Application and everything it applied
    Delete {
        name: String,
        /// Return at once instead of when the Application is gone
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Render Applications locally (built-in definitions and those in the files) and print the resources
    DryRun {
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
    },
    /// The component and trait types Applications may use: built in and in the cluster
    ShowDefinitions {
        /// yaml or json
        #[arg(short = 'o', long)]
        output: Option<String>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Put an earlier revision's spec back
    Rollback {
        name: String,
        #[arg(long)]
        revision: i64,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Resume a workflow waiting at a suspend step
    Resume {
        name: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use
    #[arg(long)]
    context: Option<String>,
    /// The namespace (default: the context's)
    #[arg(short = 'n', long)]
    namespace: Option<String>,
}

impl ClusterArgs {
    async fn session(&self) -> Result<Session, Error> {
        Session::connect(&ConnectOptions { kubeconfig: self.kubeconfig.clone(), context: self.context.clone() }, self.namespace.clone()).await
    }
}

/// Runs a command; prints errors as kubectl does and returns the exit code.
pub fn main(cmd: AppCommand) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let errors = match runtime.block_on(run(cmd)) {
        Ok(errors) => errors,
        Err(e) => vec![e],
    };
    let _ = std::io::stdout().flush();
    for e in &errors {
        eprintln!("{e}");
    }
    i32::from(!errors.is_empty())
}

async fn run(cmd: AppCommand) -> Result<Vec<Error>, Error> {
    let text = match cmd {
        AppCommand::Deploy { files, cluster } => {
            let objects = manifest::read(&files, false)?;
            let mut s = cluster.session().await?;
            // Server-side apply: custom kinds take no strategic merge patch, and a field
            // removed from the file (a trait, a property) is removed from the Application.
            let mode = ApplyMode::ServerSide { manager: "tug-app".into(), force: true };
            return Ok(s.apply_all(&objects, &mode, &mut |line| println!("{line}")).await);
        }
        AppCommand::Ls { all_namespaces, output, cluster } => cluster.session().await?.app_list(all_namespaces, output.as_deref()).await?,
        AppCommand::Status { name, output, cluster } => cluster.session().await?.app_status(&name, output.as_deref()).await?,
        AppCommand::Delete { name, no_wait, cluster } => cluster.session().await?.app_delete(&name, !no_wait).await?,
        AppCommand::DryRun { files } => {
            let objects: Vec<_> = manifest::read(&files, false)?.into_iter().map(|o| o.object).collect();
            tug_client::app::dry_run(&objects)?
        }
        AppCommand::ShowDefinitions { output, cluster } => cluster.session().await?.app_definitions(output.as_deref()).await?,
        AppCommand::Rollback { name, revision, cluster } => cluster.session().await?.app_rollback(&name, revision).await?,
        AppCommand::Resume { name, cluster } => cluster.session().await?.app_resume(&name).await?,
    };
    print!("{text}");
    Ok(Vec::new())
}
