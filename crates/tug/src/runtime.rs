//! `tug runtime …` / `tug-runtime …`: the runc-compatible command line over `tug_runtime`.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use oci_spec::runtime::Capability;
use tug_runtime::create::CreateOptions;
use tug_runtime::exec::ExecOptions;
use tug_runtime::{query, DEFAULT_ROOT};

#[derive(Parser, Debug)]
#[command(name = "tug-runtime", version, about = "OCI container runtime (runc-compatible)")]
pub struct RuntimeCli {
    /// Directory for container state.
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Also write errors to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Accepted for runc compatibility.
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility; systemd cgroup paths are refused with a clear error.
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Bundle directory (holding config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is true.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// File to write the container's init pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Pass N extra fds (3..3+N) to the container.
    #[arg(long, default_value_t = 0)]
    preserve_fds: i32,
    /// Accepted for runc compatibility (pivot_root is always tried first).
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility.
    #[arg(long)]
    no_new_keyring: bool,
    id: String,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Create a container; its process waits for `start`.
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal (default TERM) to a container.
    Kill {
        /// Signal every process in the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Delete a stopped container (--force: kill it first).
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container; waits for it unless --detach.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        #[arg(short, long)]
        detach: bool,
    },
    /// Run a new process in a running container.
    Exec(ExecArgs),
    /// List containers.
    List {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Print ids only.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show the processes of a container.
    Ps {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        id: String,
        /// Options for ps(1) in table format (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Print resource usage: once with --stats, else every --interval until the container stops.
    Events {
        #[arg(long)]
        stats: bool,
        /// Seconds between reports (a trailing "s" is accepted).
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Write a default config.json for a bundle.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// Accepted for runc compatibility (the rootless variant is not written yet).
        #[arg(long)]
        rootless: bool,
    },
}

#[derive(Args, Debug)]
struct ExecArgs {
    #[arg(long)]
    console_socket: Option<PathBuf>,
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// KEY=VALUE to add to the environment.
    #[arg(short, long)]
    env: Vec<String>,
    #[arg(short, long)]
    tty: bool,
    /// UID[:GID].
    #[arg(short, long)]
    user: Option<String>,
    /// Extra group ids.
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    /// A process.json (OCI process object) instead of a command.
    #[arg(short, long)]
    process: Option<PathBuf>,
    #[arg(short, long)]
    detach: bool,
    #[arg(long)]
    pid_file: Option<PathBuf>,
    #[arg(long)]
    no_new_privs: bool,
    /// Extra capability (e.g. CAP_NET_ADMIN).
    #[arg(short, long)]
    cap: Vec<String>,
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs the CLI; returns the process exit code.
pub fn main(cli: RuntimeCli) -> i32 {
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("tug-runtime: {msg}");
            if let Some(log) = &cli.log {
                write_log(log, cli.log_format, &msg);
            }
            1
        }
    }
}

fn write_log(path: &Path, format: LogFormat, msg: &str) {
    let time = tug_runtime::state::rfc3339(std::time::SystemTime::now());
    let line = match format {
        LogFormat::Text => format!("time=\"{time}\" level=error msg={msg:?}\n"),
        LogFormat::Json => format!("{}\n", serde_json::json!({"level": "error", "msg": msg, "time": time})),
    };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(line.as_bytes());
    }
}

fn create_options(root: &Path, a: &CreateArgs) -> CreateOptions {
    CreateOptions {
        root: root.to_path_buf(),
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
    }
}

fn dispatch(cli: &RuntimeCli) -> Result<i32> {
    let root = cli.root.as_path();
    let code = match &cli.verb {
        Verb::Create(a) => tug_runtime::create::create(&create_options(root, a)).map(|_| 0)?,
        Verb::Start { id } => tug_runtime::start::start(root, id).map(|_| 0)?,
        Verb::State { id } => {
            println!("{}", query::state(root, id)?);
            0
        }
        Verb::Kill { all, id, signal } => {
            let signal = tug_runtime::signal::parse(signal)?;
            tug_runtime::kill::kill(root, id, signal, *all).map(|_| 0)?
        }
        Verb::Delete { force, id } => tug_runtime::delete::delete(root, id, *force).map(|_| 0)?,
        Verb::Run { create, detach } => tug_runtime::run::run(&create_options(root, create), *detach)?,
        Verb::Exec(a) => exec(root, a)?,
        Verb::List { format, quiet } => {
            list(root, *format, *quiet)?;
            0
        }
        Verb::Ps { format, id, ps_args } => {
            ps(root, id, *format, ps_args)?;
            0
        }
        Verb::Pause { id } => tug_runtime::pause::pause(root, id).map(|_| 0)?,
        Verb::Resume { id } => tug_runtime::pause::resume(root, id).map(|_| 0)?,
        Verb::Events { stats, interval, id } => {
            events(root, id, *stats, interval)?;
            0
        }
        Verb::Spec { bundle, .. } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("{} exists: remove it first", path.display());
            }
            let text = serde_json::to_string_pretty(&tug_runtime::bundle::default_config())?;
            std::fs::write(&path, text + "\n").with_context(|| format!("write {}", path.display()))?;
            0
        }
    };
    Ok(code)
}

fn exec(root: &Path, a: &ExecArgs) -> Result<i32> {
    let mut process = match &a.process {
        Some(path) => {
            let data = std::fs::read(path).with_context(|| format!("read --process {}", path.display()))?;
            serde_json::from_slice(&data).with_context(|| format!("--process {}: not an OCI process object", path.display()))?
        }
        None => {
            if a.command.is_empty() {
                bail!("exec needs a command after the container id, or --process FILE");
            }
            let mut p = tug_runtime::exec::base_process(root, &a.id)?;
            p.set_args(Some(a.command.clone()));
            p
        }
    };
    if a.tty {
        process.set_terminal(Some(true));
    }
    if let Some(cwd) = &a.cwd {
        process.set_cwd(cwd.clone());
    }
    if !a.env.is_empty() {
        let mut env = process.env().clone().unwrap_or_default();
        for kv in &a.env {
            let key = kv.split('=').next().unwrap_or_default();
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        process.set_env(Some(env));
    }
    if let Some(user) = &a.user {
        let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
        let u = process.user_mut();
        u.set_uid(uid.parse().with_context(|| format!("--user {user}: uid must be a number"))?);
        u.set_gid(gid.parse().with_context(|| format!("--user {user}: gid must be a number"))?);
    }
    if !a.additional_gids.is_empty() {
        process.user_mut().set_additional_gids(Some(a.additional_gids.clone()));
    }
    if a.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    for name in &a.cap {
        let cap: Capability = name.parse().map_err(|_| anyhow::anyhow!("--cap {name}: unknown capability"))?;
        let mut caps = process.capabilities().clone().unwrap_or_default();
        let with = |set: &Option<HashSet<Capability>>| {
            let mut set = set.clone().unwrap_or_default();
            set.insert(cap);
            Some(set)
        };
        caps.set_bounding(with(caps.bounding()));
        caps.set_effective(with(caps.effective()));
        caps.set_permitted(with(caps.permitted()));
        process.set_capabilities(Some(caps));
    }
    let opts = ExecOptions {
        root: root.to_path_buf(),
        id: a.id.clone(),
        process,
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
    };
    Ok(tug_runtime::exec::exec(&opts)?)
}

fn list(root: &Path, format: Format, quiet: bool) -> Result<()> {
    let entries = query::list(root)?;
    if quiet {
        for e in &entries {
            println!("{}", e.id);
        }
    } else if format == Format::Json {
        println!("{}", serde_json::to_string(&entries)?);
    } else {
        let rows: Vec<[String; 6]> = std::iter::once(["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from))
            .chain(entries.iter().map(|e| [e.id.clone(), e.pid.to_string(), e.status.to_string(), e.bundle.clone(), e.created.clone(), e.owner.clone()]))
            .collect();
        print_table(&rows);
    }
    Ok(())
}

pub(crate) fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in rows {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("   ").trim_end());
    }
}

fn ps(root: &Path, id: &str, format: Format, ps_args: &[String]) -> Result<()> {
    let pids = query::pids(root, id)?;
    if format == Format::Json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(());
    }
    let args: Vec<String> = if ps_args.is_empty() { vec!["-ef".into()] } else { ps_args.to_vec() };
    let out = std::process::Command::new("ps").args(&args).output().context("run ps")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header.split_whitespace().position(|h| h == "PID").context("ps output has no PID column")?;
    println!("{header}");
    for line in lines {
        let pid: Option<i32> = line.split_whitespace().nth(pid_col).and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}

fn events(root: &Path, id: &str, once: bool, interval: &str) -> Result<()> {
    let secs: f64 = interval.trim_end_matches('s').parse().with_context(|| format!("--interval {interval}: expected seconds like 5s"))?;
    let mut oom_reported = false;
    loop {
        let stats = match query::stats(root, id) {
            Ok(s) => s,
            Err(tug_runtime::Error::State(_)) if !once => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let event = query::Event { kind: "stats", id, data: Some(stats) };
        println!("{}", serde_json::to_string(&event)?);
        if once {
            return Ok(());
        }
        if !oom_reported && query::oom_killed(root, id).unwrap_or(false) {
            println!("{}", serde_json::to_string(&query::Event { kind: "oom", id, data: None })?);
            oom_reported = true;
        }
        std::thread::sleep(std::time::Duration::from_secs_f64(secs.max(0.1)));
    }
}
