//! `tug get|describe|apply|create|delete|edit|patch|label|annotate|scale|rollout|autoscale|
//! explain|api-resources`: kubectl's verbs and flags, parsed here and carried out by `tug-client`.

use std::io::Write;
use std::path::PathBuf;

use tug_client::{manifest, ApplyMode, ConnectOptions, Error, GetOptions, ListOptions, PatchType, Session};

/// Flags every client command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, /var/lib/tug/kubeconfig.yaml, ~/.kube/config)
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use
    #[arg(long, global = true)]
    context: Option<String>,
    /// The namespace scope for this request
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,
}

/// `-f`/`-k`/`-R`.
#[derive(clap::Args, Debug, Clone)]
pub struct FileArgs {
    /// Files, directories or - (stdin) holding the objects
    #[arg(short = 'f', long = "filename")]
    filename: Vec<PathBuf>,
    /// A kustomization directory to build and use
    #[arg(short = 'k', long = "kustomize")]
    kustomize: Option<PathBuf>,
    /// Process the directories given with -f recursively
    #[arg(short = 'R', long)]
    recursive: bool,
}

impl FileArgs {
    fn read(&self) -> Result<Vec<manifest::SourcedObject>, Error> {
        match (&self.kustomize, self.filename.is_empty()) {
            (Some(_), false) => Err(Error::client("only one of -f or -k can be specified")),
            (Some(dir), true) => manifest::kustomize(dir),
            (None, false) => manifest::read(&self.filename, self.recursive),
            (None, true) => Err(Error::client("must specify one of -f and -k")),
        }
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum KubectlCommand {
    /// Display one or many resources (as kubectl get)
    Get {
        /// TYPE[,TYPE...] [NAME...] or TYPE/NAME...
        args: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
        /// List across all namespaces
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Label selector (e.g. -l app=web,tier!=db)
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// Field selector (e.g. metadata.name=web)
        #[arg(long)]
        field_selector: Option<String>,
        /// Output format: yaml|json|wide|name|jsonpath=TEMPLATE|jsonpath-file=FILE
        #[arg(short = 'o', long)]
        output: Option<String>,
        /// After listing, watch for changes
        #[arg(short = 'w', long)]
        watch: bool,
        /// Watch for changes without listing first
        #[arg(long)]
        watch_only: bool,
        /// Do not fail when the named objects do not exist
        #[arg(long)]
        ignore_not_found: bool,
        /// Do not print the table header
        #[arg(long)]
        no_headers: bool,
        /// Prefix names with their type
        #[arg(long)]
        show_kind: bool,
        /// Show all labels as the last column
        #[arg(long)]
        show_labels: bool,
        /// Label keys to show as columns
        #[arg(short = 'L', long = "label-columns", value_delimiter = ',')]
        label_columns: Vec<String>,
        /// Keep metadata.managedFields when printing objects as JSON or YAML
        #[arg(long)]
        show_managed_fields: bool,
    },
    /// Show details of a resource or group of resources
    Describe {
        /// TYPE [NAME...] or TYPE/NAME
        args: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        #[arg(short = 'l', long)]
        selector: Option<String>,
    },
    /// Apply a configuration by file name, directory, stdin or kustomization (client-side apply, or server-side with --server-side)
    Apply {
        #[command(flatten)]
        files: FileArgs,
        #[command(flatten)]
        client: ClientArgs,
        /// Let the server merge the configuration and track field ownership (server-side apply)
        #[arg(long)]
        server_side: bool,
        /// With --server-side: take over fields other managers own instead of failing
        #[arg(long)]
        force_conflicts: bool,
        /// With --server-side: the field manager to apply as
        #[arg(long, default_value = "kubectl")]
        field_manager: String,
    },
    /// Create resources from files or stdin
    Create {
        #[command(flatten)]
        files: FileArgs,
        #[command(flatten)]
        client: ClientArgs,
        /// Record the configuration in the last-applied annotation, for later applies
        #[arg(long)]
        save_config: bool,
    },
    /// Delete resources by file names, kustomization, type and names, or selector
    Delete {
        /// TYPE NAME... or TYPE/NAME...
        args: Vec<String>,
        #[command(flatten)]
        files: FileArgs,
        #[command(flatten)]
        client: ClientArgs,
        #[arg(short = 'l', long)]
        selector: Option<String>,
        #[arg(long)]
        field_selector: Option<String>,
        /// Delete all objects of the type in the namespace
        #[arg(long)]
        all: bool,
        /// Treat "not found" as a successful delete
        #[arg(long)]
        ignore_not_found: bool,
        /// Wait for the objects to be gone
        #[arg(long, default_value = "true", action = clap::ArgAction::Set)]
        wait: bool,
        /// How dependents go: background (after the owner), foreground (before it) or orphan (they stay)
        #[arg(long, default_value = "background", value_parser = ["background", "foreground", "orphan", "true", "false"])]
        cascade: String,
    },
    /// Edit a resource in $KUBE_EDITOR or $EDITOR
    Edit {
        /// TYPE NAME or TYPE/NAME
        args: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Update fields of a resource with a strategic merge, JSON merge or JSON patch
    Patch {
        /// TYPE NAME or TYPE/NAME
        args: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
        /// The patch (JSON or YAML)
        #[arg(short = 'p', long)]
        patch: Option<String>,
        /// A file holding the patch
        #[arg(long)]
        patch_file: Option<PathBuf>,
        /// strategic, merge or json
        #[arg(long = "type", default_value = "strategic")]
        patch_type: String,
        /// Patch a subresource (status, scale)
        #[arg(long)]
        subresource: Option<String>,
    },
    /// Update the labels of a resource: KEY=VALUE sets, KEY- removes
    Label {
        args: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        overwrite: bool,
        #[arg(short = 'l', long)]
        selector: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Update the annotations of a resource: KEY=VALUE sets, KEY- removes
    Annotate {
        args: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        overwrite: bool,
        #[arg(short = 'l', long)]
        selector: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Set a new size for a Deployment, ReplicaSet, StatefulSet or ReplicationController
    Scale {
        args: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        replicas: i64,
        /// Only scale if the current size is this
        #[arg(long)]
        current_replicas: Option<i64>,
    },
    /// Manage the rollout of a Deployment: status, history, undo, pause, resume, restart
    Rollout {
        #[command(subcommand)]
        action: RolloutAction,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create a HorizontalPodAutoscaler for a Deployment, ReplicaSet or StatefulSet
    Autoscale {
        /// TYPE NAME or TYPE/NAME
        args: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
        /// The lower limit for the number of pods
        #[arg(long)]
        min: Option<i32>,
        /// The upper limit for the number of pods
        #[arg(long)]
        max: i32,
        /// The target average CPU utilization (percent of the request)
        #[arg(long)]
        cpu_percent: Option<i32>,
        /// The name of the autoscaler (default: the target's)
        #[arg(long)]
        name: Option<String>,
    },
    /// Documentation of a resource type or field (TYPE.field.path), from the server's OpenAPI
    Explain {
        path: String,
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        api_version: Option<String>,
    },
    /// Print the supported API resources on the server
    ApiResources {
        #[command(flatten)]
        client: ClientArgs,
        /// Only namespaced (true) or cluster-scoped (false) types
        #[arg(long)]
        namespaced: Option<bool>,
        #[arg(long)]
        api_group: Option<String>,
        /// wide or name
        #[arg(short = 'o', long)]
        output: Option<String>,
        #[arg(long)]
        no_headers: bool,
    },
}

/// `rollout`'s verbs.
#[derive(clap::Subcommand, Debug)]
pub enum RolloutAction {
    /// Show the status of the rollout, following it until it is done
    Status {
        args: Vec<String>,
        /// Follow the rollout until it is done
        #[arg(short = 'w', long, default_value = "true", action = clap::ArgAction::Set)]
        watch: bool,
        /// How long to follow it (e.g. 90s, 5m; 0 for ever)
        #[arg(long)]
        timeout: Option<String>,
    },
    /// View the previous revisions and configurations
    History {
        args: Vec<String>,
        /// Show the pod template of this revision
        #[arg(long)]
        revision: Option<i64>,
    },
    /// Roll back to the previous revision (or --to-revision)
    Undo {
        args: Vec<String>,
        /// The revision to roll back to (0: the previous one)
        #[arg(long, default_value = "0")]
        to_revision: i64,
    },
    /// Pause the rollout: template changes wait until resumed
    Pause { args: Vec<String> },
    /// Resume a paused rollout
    Resume { args: Vec<String> },
    /// Restart every pod, rolling
    Restart { args: Vec<String> },
}

/// A duration as kubectl writes them: 90s, 5m, 1h, or plain seconds; 0 means none.
fn duration(text: &str) -> Result<Option<std::time::Duration>, Error> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| Error::client(format!("invalid duration {text:?}: use e.g. 90s, 5m, 1h")))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(Error::client(format!("invalid duration {text:?}: use e.g. 90s, 5m, 1h"))),
    };
    Ok((seconds > 0).then(|| std::time::Duration::from_secs(seconds)))
}

fn client_args(cmd: &KubectlCommand) -> &ClientArgs {
    use KubectlCommand::*;
    match cmd {
        Get { client, .. }
        | Describe { client, .. }
        | Apply { client, .. }
        | Create { client, .. }
        | Delete { client, .. }
        | Edit { client, .. } => client,
        Patch { client, .. }
        | Label { client, .. }
        | Annotate { client, .. }
        | Scale { client, .. }
        | Rollout { client, .. }
        | Autoscale { client, .. }
        | Explain { client, .. }
        | ApiResources { client, .. } => client,
    }
}

fn list(selector: Option<String>, field_selector: Option<String>) -> ListOptions {
    ListOptions {
        label_selector: selector,
        field_selector,
    }
}

fn say(line: &str) {
    println!("{line}");
}

/// Runs a command; prints errors as kubectl does and returns the exit code.
pub fn main(cmd: KubectlCommand) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let errors = runtime.block_on(async {
        let c = client_args(&cmd);
        let mut s = Session::connect(
            &ConnectOptions {
                kubeconfig: c.kubeconfig.clone(),
                context: c.context.clone(),
            },
            c.namespace.clone(),
        )
        .await?;
        run(&mut s, cmd).await
    });
    let errors = match errors {
        Ok(e) => e,
        Err(e) => vec![e],
    };
    let _ = std::io::stdout().flush();
    for e in &errors {
        eprintln!("{e}");
    }
    if errors.is_empty() {
        0
    } else {
        1
    }
}

async fn run(s: &mut Session, cmd: KubectlCommand) -> Result<Vec<Error>, Error> {
    use KubectlCommand::*;
    let mut out = std::io::stdout().lock();
    match cmd {
        Get {
            args,
            all_namespaces,
            selector,
            field_selector,
            output,
            watch,
            watch_only,
            ignore_not_found,
            no_headers,
            show_kind,
            show_labels,
            label_columns,
            show_managed_fields,
            ..
        } => {
            let opts = GetOptions {
                all_namespaces,
                list: list(selector, field_selector),
                output,
                watch,
                watch_only,
                ignore_not_found,
                no_headers,
                show_kind,
                show_labels,
                label_columns,
                show_managed_fields,
            };
            s.get(&args, &opts, &mut out).await
        }
        Describe {
            args,
            all_namespaces,
            selector,
            ..
        } => {
            let (text, errors) = s
                .describe(&args, &list(selector, None), all_namespaces)
                .await?;
            if !text.is_empty() {
                writeln!(out, "{text}")?;
            }
            Ok(errors)
        }
        Apply {
            files,
            server_side,
            force_conflicts,
            field_manager,
            ..
        } => {
            let objs = files.read()?;
            let mode = if server_side {
                ApplyMode::ServerSide { manager: field_manager, force: force_conflicts }
            } else {
                if force_conflicts {
                    return Err(Error::client("--force-conflicts only works with --server-side"));
                }
                ApplyMode::ClientSide
            };
            Ok(s.apply_all(&objs, &mode, &mut say).await)
        }
        Create {
            files, save_config, ..
        } => {
            let objs = files.read()?;
            Ok(s.create_all(&objs, save_config, &mut say).await)
        }
        Delete {
            args,
            files,
            selector,
            field_selector,
            all,
            ignore_not_found,
            wait,
            cascade,
            ..
        } => {
            s.propagation = match cascade.as_str() {
                "foreground" => "Foreground",
                "orphan" | "false" => "Orphan",
                _ => "Background",
            };
            if files.kustomize.is_some() || !files.filename.is_empty() {
                if !args.is_empty() {
                    return Err(Error::client(
                        "when -f or -k is given, no resource type or name may be",
                    ));
                }
                let objs = files.read()?;
                Ok(s.delete_objects(&objs, ignore_not_found, wait, &mut say)
                    .await)
            } else {
                s.delete(
                    &args,
                    &list(selector, field_selector),
                    all,
                    ignore_not_found,
                    wait,
                    &mut say,
                )
                .await
            }
        }
        Edit { args, .. } => {
            writeln!(out, "{}", s.edit(&args).await?)?;
            Ok(vec![])
        }
        Patch {
            args,
            patch,
            patch_file,
            patch_type,
            subresource,
            ..
        } => {
            let body = match (patch, patch_file) {
                (Some(p), None) => p,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .map_err(|e| Error::client(format!("{}: {e}", f.display())))?,
                _ => {
                    return Err(Error::client(
                        "must specify exactly one of --patch (-p) or --patch-file",
                    ))
                }
            };
            let pt = PatchType::parse(&patch_type)?;
            writeln!(
                out,
                "{}",
                s.patch(&args, &body, pt, subresource.as_deref()).await?
            )?;
            Ok(vec![])
        }
        Label {
            args,
            overwrite,
            selector,
            all,
            ..
        } => {
            writeln!(
                out,
                "{}",
                s.set_metadata("labels", &args, overwrite, &list(selector, None), all)
                    .await?
            )?;
            Ok(vec![])
        }
        Annotate {
            args,
            overwrite,
            selector,
            all,
            ..
        } => {
            writeln!(
                out,
                "{}",
                s.set_metadata("annotations", &args, overwrite, &list(selector, None), all)
                    .await?
            )?;
            Ok(vec![])
        }
        Scale {
            args,
            replicas,
            current_replicas,
            ..
        } => {
            writeln!(out, "{}", s.scale(&args, replicas, current_replicas).await?)?;
            Ok(vec![])
        }
        Rollout { action, .. } => {
            match action {
                RolloutAction::Status { args, watch, timeout } => {
                    let timeout = timeout.as_deref().map(duration).transpose()?.flatten();
                    s.rollout_status(&args, watch, timeout, &mut say).await?;
                }
                RolloutAction::History { args, revision } => write!(out, "{}", s.rollout_history(&args, revision).await?)?,
                RolloutAction::Undo { args, to_revision } => writeln!(out, "{}", s.rollout_undo(&args, to_revision).await?)?,
                RolloutAction::Pause { args } => writeln!(out, "{}", s.rollout_pause(&args, true).await?)?,
                RolloutAction::Resume { args } => writeln!(out, "{}", s.rollout_pause(&args, false).await?)?,
                RolloutAction::Restart { args } => writeln!(out, "{}", s.rollout_restart(&args).await?)?,
            }
            Ok(vec![])
        }
        Autoscale { args, min, max, cpu_percent, name, .. } => {
            writeln!(out, "{}", s.autoscale(&args, min, max, cpu_percent, name).await?)?;
            Ok(vec![])
        }
        Explain {
            path, api_version, ..
        } => {
            write!(out, "{}", s.explain(&path, api_version.as_deref()).await?)?;
            Ok(vec![])
        }
        ApiResources {
            namespaced,
            api_group,
            output,
            no_headers,
            ..
        } => {
            write!(
                out,
                "{}",
                s.api_resources(
                    namespaced,
                    api_group.as_deref(),
                    output.as_deref(),
                    no_headers
                )
                .await?
            )?;
            Ok(vec![])
        }
    }
}
