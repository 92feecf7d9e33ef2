//! `tug`: one binary for the whole platform. This crate is wiring only: it parses the
//! command line and calls the library crates; no business logic lives here.
//!
//! Invoked as `tug-runtime` (a hard link or symlink to `tug`), it is the runc-compatible
//! OCI runtime CLI, exactly as `tug runtime`.

mod agent;
mod app;
mod build;
mod chart;
mod chart_oci;
mod engine;
mod image;
mod kubectl;
mod kustomize;
mod runtime;
mod server;
mod token;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tug", version, about = "Tugboat: containers, images and a Kubernetes-compatible control plane in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The OCI container runtime (runc-compatible; also reachable as `tug-runtime`).
    Runtime(Box<runtime::RuntimeCli>),
    /// Build Kustomize overlays (kustomization.yaml trees), as `kubectl kustomize` does.
    #[command(subcommand)]
    Kustomize(kustomize::KustomizeCommand),
    /// Run the control plane: the Kubernetes API server over HTTPS.
    Server(server::ServerArgs),
    /// Print the admin kubeconfig written by `tug server`, or issue one for a user (--user, --group).
    Kubeconfig(server::KubeconfigArgs),
    /// Bootstrap (join) tokens: create, list, delete.
    Token(token::TokenCli),
    /// Run the scheduler alone against an API server (`tug server` runs one unless told not to).
    Scheduler(server::SchedulerArgs),
    /// Manage images: ls, rm, prune, tag, inspect, save, load.
    Image(image::ImageCli),
    /// Build an image from a Containerfile (Dockerfile).
    Build(build::BuildArgs),
    /// Show an image's history (as `tug image history`).
    History(build::HistoryArgs),
    /// Pull an image from a registry.
    Pull(image::PullArgs),
    /// Push an image to a registry.
    Push(image::PushArgs),
    /// Save credentials for a registry (checked first).
    Login(image::LoginArgs),
    /// kubectl's verbs: get, describe, apply, create, delete, edit, patch, label, annotate, scale, rollout, autoscale, explain, api-resources.
    #[command(flatten)]
    Kubectl(kubectl::KubectlCommand),
    /// Run the node agent (kubelet) against an API server.
    Agent(agent::AgentArgs),
    /// A single-node cluster in one process: API server, scheduler and agent on the embedded store.
    Up(agent::UpArgs),
    /// The pod sandbox the agent starts (holds a pod's namespaces).
    #[command(hide = true)]
    PodSandbox(agent::SandboxArgs),
    /// The container supervisor the agent starts.
    #[command(hide = true)]
    ContainerShim(agent::ShimArgs),
    /// Containers on this host, as Docker: run, ps, logs, exec, stop, start, restart, kill, rm, inspect, top, stats, diff, commit, images, rmi, tag.
    #[command(flatten)]
    Engine(engine::EngineCommand),
    #[command(subcommand, about = CHART_ABOUT)]
    Chart(chart::ChartCommand),
    /// OAM Applications: deploy, ls, status, delete, dry-run, show-definitions, rollback, resume.
    #[command(subcommand)]
    App(app::AppCommand),
}

const CHART_ABOUT: &str = "Helm-compatible charts: template, show, lint, package; releases: install, upgrade, rollback, uninstall, list, history, status, get, test.";

/// `tug chart …` alone: the same command line as under [`Cli`], without building the
/// whole command tree (clap builds every subcommand of the tree it parses with, a
/// fifth of a short command's start-up), because charts are often rendered in loops.
#[derive(Parser)]
#[command(name = "tug")]
struct ChartCli {
    #[command(subcommand)]
    command: ChartOnly,
}

#[derive(Subcommand)]
enum ChartOnly {
    #[command(subcommand, about = CHART_ABOUT)]
    Chart(chart::ChartCommand),
}

/// `tug chart template …` alone, the command charts are rendered with in loops: the
/// chart subtree alone still took clap half a millisecond to build.
#[derive(Parser)]
#[command(name = "tug")]
struct TemplateCli {
    #[command(subcommand)]
    command: TemplateOnlyChart,
}

#[derive(Subcommand)]
enum TemplateOnlyChart {
    #[command(subcommand, about = CHART_ABOUT)]
    Chart(TemplateOnly),
}

#[derive(Subcommand)]
enum TemplateOnly {
    #[command(about = chart::TEMPLATE_ABOUT)]
    Template(chart::TemplateArgs),
}

fn main() {
    let invoked_as = std::env::args_os()
        .next()
        .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let code = if invoked_as == "tug-runtime" {
        runtime::main(runtime::RuntimeCli::parse())
    } else if std::env::args_os().nth(1).is_some_and(|a| a == "chart") {
        tug_chart::start_helper();
        let cmd = if std::env::args_os().nth(2).is_some_and(|a| a == "template") {
            let TemplateOnlyChart::Chart(TemplateOnly::Template(args)) = TemplateCli::parse().command;
            chart::ChartCommand::Template(args)
        } else {
            let ChartOnly::Chart(cmd) = ChartCli::parse().command;
            cmd
        };
        if !cmd.serves() {
            keep_freed_memory();
        }
        report(chart::run(cmd))
    } else {
        match Cli::parse().command {
            Command::Runtime(cli) => runtime::main(*cli),
            Command::Kustomize(cmd) => report(kustomize::run(cmd)),
            Command::Server(args) => report(server::run(args)),
            Command::Kubeconfig(args) => report(server::kubeconfig(args)),
            Command::Scheduler(args) => report(server::scheduler(args)),
            Command::Token(cli) => report(token::run(cli)),
            Command::Image(cli) => report(image::image(cli)),
            Command::Build(args) => report(build::build(args)),
            Command::History(args) => report(build::history_command(args)),
            Command::Pull(args) => report(image::pull(args)),
            Command::Push(args) => report(image::push(args)),
            Command::Login(args) => report(image::login(args)),
            Command::Kubectl(cmd) => kubectl::main(cmd),
            Command::Chart(cmd) => report(chart::run(cmd)),
            Command::App(cmd) => app::main(cmd),
            Command::Agent(args) => report(agent::agent(args)),
            Command::Up(args) => report(agent::up(args)),
            Command::PodSandbox(args) => report(agent::sandbox(args)),
            Command::ContainerShim(args) => agent::shim(args),
            Command::Engine(cmd) => engine::main(cmd),
        }
    };
    std::process::exit(code);
}

/// Prints an error the way every `tug` command does and turns it into an exit code.
fn report(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// mimalloc rather than glibc's allocator: a chart renders on two threads, and with
/// glibc's per-thread arenas growing page by page the second thread made rendering
/// slower, not faster; mimalloc also made one-thread rendering about a tenth faster.
/// Built without transparent huge pages, which took an idle `tug up` from 48 to 68 MiB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// For a command that ends soon: mimalloc keeps the memory it frees instead of handing
/// it back to the system page by page (`madvise`, over a hundred calls and as many
/// page faults again to render a chart); the process gives it all back when it exits.
fn keep_freed_memory() {
    // mimalloc.h: `mi_option_purge_delay` (15): milliseconds before freed memory is
    // purged; -1 never purges.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one of mimalloc's global options, which it reads atomically; no
    // memory is touched.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}
