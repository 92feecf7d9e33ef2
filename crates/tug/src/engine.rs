//! The Docker-style container commands (`tug run`, `ps`, `logs`, `exec`, `stop`,
//! `start`, `restart`, `kill`, `rm`, `inspect`, `top`, `stats`, `diff`, `commit`) and
//! the short image verbs (`images`, `rmi`, `tag`) → `tug_engine::Engine` and the image
//! commands. Containers live in `<data-dir>/engine`, images in `<data-dir>/image`.

use std::io::{BufRead, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use tug_engine::options::{self, RunOptions};
use tug_engine::{Engine, State};
use tug_image::Reference;

use crate::image::DataDir;
use crate::runtime::print_table;

#[derive(Subcommand, Debug)]
pub enum EngineCommand {
    /// Run a command in a new container
    Run(Box<RunArgs>),
    /// List containers
    Ps(PsArgs),
    /// Show a container's output
    Logs(LogsArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Stop running containers (SIGTERM, then SIGKILL after -t seconds)
    Stop(StopArgs),
    /// Start stopped containers (detached)
    Start(Targets),
    /// Restart containers
    Restart(StopArgs),
    /// Send a signal to running containers
    Kill(KillArgs),
    /// Remove containers
    Rm(RmArgs),
    /// Show containers' details as JSON
    Inspect(Targets),
    /// Show a container's processes
    Top(Target),
    /// Show containers' resource usage
    Stats(StatsArgs),
    /// Show the files a container changed (A added, C changed, D deleted)
    Diff(Target),
    /// Make an image from a container's changes
    Commit(CommitArgs),
    /// List images (as `tug image ls`)
    Images(ImagesArgs),
    /// Remove images (as `tug image rm`)
    Rmi(RmiArgs),
    /// Give an image another name (as `tug image tag`)
    Tag(TagArgs),
    /// The detached supervisor of a `tug run` container.
    #[command(hide = true)]
    ContainerMonitor(MonitorArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    data: DataDir,
    /// Run in the background and print the container ID
    #[arg(short, long)]
    detach: bool,
    /// Remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Keep stdin open (the container reads this terminal's input)
    #[arg(short, long)]
    interactive: bool,
    /// Accepted for Docker habits; no pseudo-terminal is allocated
    #[arg(short, long)]
    tty: bool,
    /// Name the container
    #[arg(long)]
    name: Option<String>,
    /// Set environment variables (K=V, or K to take it from here)
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read environment variables from a file
    #[arg(long)]
    env_file: Vec<PathBuf>,
    /// Bind mount a host path: HOST:CTR[:ro]
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// Publish a container port on the host: [IP:]HOSTPORT:CTRPORT
    #[arg(short, long = "publish")]
    publish: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// User (name|uid[:group|gid])
    #[arg(short, long)]
    user: Option<String>,
    /// Override the image's entrypoint
    #[arg(long)]
    entrypoint: Option<String>,
    /// Memory limit (e.g. 64m, 1g)
    #[arg(short, long)]
    memory: Option<String>,
    /// CPUs (e.g. 0.5)
    #[arg(long)]
    cpus: Option<String>,
    /// Maximum number of processes
    #[arg(long)]
    pids_limit: Option<i64>,
    /// Mount the root filesystem read-only
    #[arg(long)]
    read_only: bool,
    /// none, bridge (default, on tug0), host or container:NAME
    #[arg(long, default_value = "bridge")]
    network: String,
    /// Container host name (default: the short ID)
    #[arg(long)]
    hostname: Option<String>,
    image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    #[command(flatten)]
    data: DataDir,
    /// Show all containers (default: running only)
    #[arg(short, long)]
    all: bool,
    /// Only IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate
    #[arg(long)]
    no_trunc: bool,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[command(flatten)]
    data: DataDir,
    /// Follow the output until the container ends
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines
    #[arg(short = 'n', long)]
    tail: Option<usize>,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    container: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[command(flatten)]
    data: DataDir,
    /// Keep stdin open
    #[arg(short, long)]
    interactive: bool,
    /// Accepted for Docker habits; no pseudo-terminal is allocated
    #[arg(short, long)]
    tty: bool,
    #[arg(short, long = "env")]
    env: Vec<String>,
    #[arg(short, long)]
    user: Option<String>,
    #[arg(short, long)]
    workdir: Option<String>,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    #[command(flatten)]
    data: DataDir,
    /// Seconds to wait before SIGKILL
    #[arg(short, long, default_value_t = 10)]
    time: u64,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    #[command(flatten)]
    data: DataDir,
    /// Signal (name or number)
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    #[command(flatten)]
    data: DataDir,
    /// Kill and remove running containers
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct Targets {
    #[command(flatten)]
    data: DataDir,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct Target {
    #[command(flatten)]
    data: DataDir,
    container: String,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    data: DataDir,
    /// Print one sample and exit (the only mode)
    #[arg(long)]
    no_stream: bool,
    /// Containers (default: every running one)
    containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    #[command(flatten)]
    data: DataDir,
    #[arg(short, long)]
    author: Option<String>,
    #[arg(short, long)]
    message: Option<String>,
    container: String,
    /// NAME[:TAG] for the new image
    name: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    #[command(flatten)]
    data: DataDir,
    #[arg(short, long)]
    quiet: bool,
    #[arg(long)]
    no_trunc: bool,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    #[command(flatten)]
    data: DataDir,
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    #[command(flatten)]
    data: DataDir,
    source: String,
    target: String,
}

#[derive(Args, Debug)]
pub struct MonitorArgs {
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long)]
    listen_fd: Vec<i32>,
    id: String,
}

fn engine(data: &DataDir) -> Result<Engine> {
    let exe = std::env::current_exe().context("cannot find the tug binary")?;
    Ok(Engine::new(data.path(), data.store()?, exe))
}

/// Runs one engine command; the process's exit code.
pub fn main(command: EngineCommand) -> i32 {
    let result = match command {
        EngineCommand::Run(args) => return run(*args).unwrap_or_else(|e| crate::report(Err(e)).max(125)),
        EngineCommand::Exec(args) => return exec(args).unwrap_or_else(|e| crate::report(Err(e)).max(126)),
        EngineCommand::Ps(args) => ps(args),
        EngineCommand::Logs(args) => logs(args),
        EngineCommand::Stop(args) => each(&args.data, &args.containers, |e, c| e.stop(c, Duration::from_secs(args.time)).map(drop)),
        EngineCommand::Start(args) => each(&args.data, &args.containers, |e, c| e.start(c)),
        EngineCommand::Restart(args) => each(&args.data, &args.containers, |e, c| {
            e.stop(c, Duration::from_secs(args.time))?;
            e.start(c)
        }),
        EngineCommand::Kill(args) => match tug_runtime::signal::parse(&args.signal) {
            Ok(signal) => each(&args.data, &args.containers, |e, c| e.kill(c, signal).map(drop)),
            Err(e) => Err(anyhow::anyhow!("invalid --signal {:?}: {e}", args.signal)),
        },
        EngineCommand::Rm(args) => each(&args.data, &args.containers, |e, c| e.remove(c, args.force).map(drop)),
        EngineCommand::Inspect(args) => inspect(args),
        EngineCommand::Top(args) => top(args),
        EngineCommand::Stats(args) => stats(args),
        EngineCommand::Diff(args) => diff(args),
        EngineCommand::Commit(args) => commit(args),
        EngineCommand::Images(args) => crate::image::list_images(&args.data, args.quiet, args.no_trunc),
        EngineCommand::Rmi(args) => crate::image::remove_images(&args.data, &args.images, args.force),
        EngineCommand::Tag(args) => crate::image::tag(&args.data, &args.source, &args.target),
        EngineCommand::ContainerMonitor(args) => monitor(args),
    };
    crate::report(result)
}

/// Applies `f` to each container, printing its name as given (as docker does); all are tried.
fn each(data: &DataDir, containers: &[String], f: impl Fn(&Engine, &str) -> tug_engine::Result<()>) -> Result<()> {
    let engine = engine(data)?;
    let mut failed = 0;
    for c in containers {
        match f(&engine, c) {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} containers failed", containers.len());
    }
    Ok(())
}

fn run(args: RunArgs) -> Result<i32> {
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(options::parse_env_file(file)?);
    }
    for e in &args.env {
        env.extend(options::parse_env(e)?);
    }
    let options = RunOptions {
        image: args.image.clone(),
        command: args.command.clone(),
        name: args.name.clone(),
        env,
        volumes: args.volume.iter().map(|v| options::parse_volume(v)).collect::<Result<_, _>>()?,
        ports: args.publish.iter().map(|p| options::parse_port(p)).collect::<Result<_, _>>()?,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        entrypoint: args.entrypoint.clone(),
        memory: args.memory.as_deref().map(options::parse_memory).transpose()?,
        cpus: args.cpus.as_deref().map(options::parse_cpus).transpose()?,
        pids_limit: args.pids_limit,
        read_only: args.read_only,
        network: options::parse_network(&args.network)?,
        hostname: args.hostname.clone(),
        auto_remove: args.rm,
        interactive: args.interactive,
    };
    let engine = engine(&args.data)?;
    let (record, code) = engine.run(options, args.detach)?;
    if args.detach {
        println!("{}", record.id);
    }
    Ok(code.unwrap_or(0))
}

fn exec(args: ExecArgs) -> Result<i32> {
    let engine = engine(&args.data)?;
    let mut env = Vec::new();
    for e in &args.env {
        env.extend(options::parse_env(e)?);
    }
    let options = tug_engine::engine::ExecOptions { args: args.command, env, user: args.user, workdir: args.workdir };
    Ok(engine.exec(&args.container, &options)?)
}

fn monitor(args: MonitorArgs) -> Result<()> {
    let data = DataDir::at(args.data_dir);
    let engine = engine(&data)?;
    engine.monitor(&args.id, &args.listen_fd)?;
    Ok(())
}

/// Docker's human durations (`Less than a second`, `5 seconds`, `3 minutes`, `2 hours`, `4 days`).
fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=2819 => format!("{} minutes", s / 60),
        2820..=5399 => "About an hour".into(),
        5400..=172_799 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// Docker's STATUS column.
fn status(state: &State, now: SystemTime) -> String {
    let since = |t: &str| {
        crate::image::parse_rfc3339(t)
            .map(|t| human_duration(now.duration_since(t).unwrap_or_default()))
            .unwrap_or_default()
    };
    match state {
        State::Created => "Created".into(),
        State::Running { started, .. } => format!("Up {}", since(started)),
        State::Exited { code, finished, .. } => format!("Exited ({code}) {} ago", since(finished)),
    }
}

fn ps(args: PsArgs) -> Result<()> {
    let engine = engine(&args.data)?;
    let now = SystemTime::now();
    let mut list = engine.list()?;
    list.retain(|(_, s)| args.all || s.running());
    list.reverse();
    if args.quiet {
        for (r, _) in &list {
            println!("{}", if args.no_trunc { &r.id[..] } else { &r.id[..12] });
        }
        return Ok(());
    }
    let mut rows = vec![["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"].map(String::from)];
    for (r, s) in &list {
        let mut command = r.args.join(" ");
        if !args.no_trunc && command.chars().count() > 20 {
            command = format!("{}…", command.chars().take(19).collect::<String>());
        }
        let created = crate::image::parse_rfc3339(&r.created).map(|t| crate::image::ago(now, t)).unwrap_or_default();
        let ports: Vec<String> = r.options.ports.iter().map(|p| format!("{}:{}->{}/tcp", p.host_ip, p.host_port, p.container_port)).collect();
        rows.push([
            if args.no_trunc { r.id.clone() } else { r.id[..12].to_string() },
            r.options.image.clone(),
            format!("\"{command}\""),
            created,
            status(s, now),
            ports.join(", "),
            r.name.clone(),
        ]);
    }
    print_table(&rows);
    Ok(())
}

fn logs(args: LogsArgs) -> Result<()> {
    let engine = engine(&args.data)?;
    let record = engine.find(&args.container)?;
    let path = engine.dir(&record).join("container.log");
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text)?;
    let lines: Vec<&str> = text.lines().collect();
    let skip = args.tail.map_or(0, |n| lines.len().saturating_sub(n));
    for line in &lines[skip..] {
        emit(line, args.timestamps)?;
    }
    if !args.follow {
        return Ok(());
    }
    // Follow: new complete lines as they are written, until the container is not running.
    let mut pos = file.stream_position()?;
    let mut reader = std::io::BufReader::new(file);
    let mut pending = String::new();
    loop {
        let mut chunk = String::new();
        let n = reader.read_line(&mut chunk)?;
        if n > 0 {
            pos += n as u64;
            pending.push_str(&chunk);
            if pending.ends_with('\n') {
                emit(pending.trim_end_matches('\n'), args.timestamps)?;
                pending.clear();
            }
            continue;
        }
        if !engine.state(&record).running() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
        reader.seek(std::io::SeekFrom::Start(pos))?;
    }
}

/// Prints one CRI log entry to stdout or stderr as the container wrote it.
fn emit(line: &str, timestamps: bool) -> Result<()> {
    let Some((time, stream, full, text)) = tug_engine::cri_log::parse(line) else { return Ok(()) };
    let mut out: Box<dyn Write> = if stream == "stderr" { Box::new(std::io::stderr().lock()) } else { Box::new(std::io::stdout().lock()) };
    if timestamps {
        write!(out, "{time} ")?;
    }
    write!(out, "{text}")?;
    if full {
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

fn inspect(args: Targets) -> Result<()> {
    let engine = engine(&args.data)?;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for c in &args.containers {
        match engine.find(c) {
            Ok(r) => out.push(engine.inspect(&r)),
            Err(e) => missing.push(e.to_string()),
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    if !missing.is_empty() {
        bail!("{}", missing.join("; "));
    }
    Ok(())
}

fn top(args: Target) -> Result<()> {
    let engine = engine(&args.data)?;
    let mut rows = vec![["UID", "PID", "PPID", "CMD"].map(String::from)];
    for p in engine.top(&args.container)? {
        rows.push([p.uid.to_string(), p.pid.to_string(), p.ppid.to_string(), p.command]);
    }
    print_table(&rows);
    Ok(())
}

fn stats(args: StatsArgs) -> Result<()> {
    let engine = engine(&args.data)?;
    let records = if args.containers.is_empty() {
        engine.list()?.into_iter().filter(|(_, s)| s.running()).map(|(r, _)| r).collect()
    } else {
        args.containers.iter().map(|c| engine.find(c)).collect::<Result<Vec<_>, _>>()?
    };
    // CPU % over a short sample, as docker stats --no-stream shows it.
    let first: Vec<_> = records.iter().map(|r| engine.stats(r).ok().map(|s| s.cpu.usage.total)).collect();
    let started = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(200));
    let mut rows = vec![["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS"].map(String::from)];
    for (r, before) in records.iter().zip(first) {
        let s = engine.stats(r).with_context(|| format!("container {} is not running", r.name))?;
        let elapsed = started.elapsed().as_nanos().max(1) as f64;
        let cpu = before.map_or(0.0, |b| s.cpu.usage.total.saturating_sub(b) as f64 / elapsed * 100.0);
        let limit = if s.memory.usage.limit == 0 || s.memory.usage.limit >= 1 << 62 { "unlimited".into() } else { crate::image::human_size(s.memory.usage.limit) };
        rows.push([
            r.id[..12].to_string(),
            r.name.clone(),
            format!("{cpu:.2}%"),
            format!("{} / {limit}", crate::image::human_size(s.memory.usage.usage)),
            s.pids.current.to_string(),
        ]);
    }
    print_table(&rows);
    Ok(())
}

fn diff(args: Target) -> Result<()> {
    let engine = engine(&args.data)?;
    for change in engine.diff(&args.container)? {
        println!("{change}");
    }
    Ok(())
}

fn commit(args: CommitArgs) -> Result<()> {
    let engine = engine(&args.data)?;
    let name = args.name.as_deref().map(Reference::parse).transpose()?;
    let descriptor = engine.commit(&args.container, name.as_ref(), args.author, args.message)?;
    let image = engine.store().image(descriptor.digest().as_ref())?;
    println!("{}", image.id());
    Ok(())
}
