//! The lifecycle verbs. `create` records what was asked; `start` binds published
//! ports, mounts the root filesystem, resolves the user, takes a bridge address, writes
//! the bundle and hands the container to its supervisor (which wires the veth between
//! the runtime's create and start) —
//! in this process for a foreground `run`, or in a detached `tug container-monitor`
//! process that outlives the caller. When the container ends, the supervisor takes down
//! what `start` made ([`Engine::teardown`]) and, with `--rm`, the container itself.
//! Every failure on the way undoes what was made, so a refused start leaves no mount,
//! namespace, veth, address, cgroup or process.

use std::net::TcpListener;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oci_spec::image::Descriptor;
use serde_json::Value;
use tug_image::changes::{self, Change};
use tug_image::commit::CommitOptions;
use tug_image::{overlay, Image, Reference, Store, UnpackOptions};
use tug_network::Network;

use crate::container::{Containers, Files, Record, State};
use crate::options::{NetworkMode, RunOptions};
use crate::shim::{self, Attach, Hooks, Paths};
use crate::{netns, ports, spec, supervisor, Error, Result};

/// The default bridge: its own name (node bridges are `tug` + 8 hex digits) and range.
pub const BRIDGE: &str = "tug0";
pub const BRIDGE_RANGE: &str = "10.88.0.0/16";

/// The engine over a data directory (`<data>/engine`) and an image store.
#[derive(Clone, Debug)]
pub struct Engine {
    root: PathBuf,
    store: Store,
    containers: Containers,
    /// The `tug` binary, started as `container-monitor` for detached containers.
    exe: PathBuf,
}

/// A process `tug exec` runs.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
}

/// One process of a container, as `tug top` shows it.
#[derive(Clone, Debug)]
pub struct Proc {
    pub uid: u32,
    pub pid: i32,
    pub ppid: i32,
    pub command: String,
}

impl Engine {
    /// The engine with its files under `data_dir/engine`.
    pub fn new(data_dir: &Path, store: Store, exe: PathBuf) -> Engine {
        let root = data_dir.join("engine");
        Engine { containers: Containers::new(root.join("containers")), root, store, exe }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// tug-runtime's state root for engine containers.
    fn runtime_root(&self) -> PathBuf {
        self.root.join("runtime")
    }

    fn network(&self) -> Result<Network> {
        Ok(Network::with_bridge(BRIDGE, BRIDGE, BRIDGE_RANGE, &self.root.join("network"))?)
    }

    fn paths(&self, record: &Record) -> Paths {
        let dir = self.containers.dir(&record.id);
        let files = Files(&dir);
        Paths { root: self.runtime_root(), id: record.id.clone(), bundle: dir.clone(), log: files.log(), record: files.exit() }
    }

    /// Every container with its state, oldest first.
    pub fn list(&self) -> Result<Vec<(Record, State)>> {
        Ok(self.containers.list()?.into_iter().map(|r| {
            let state = self.state(&r);
            (r, state)
        }).collect())
    }

    /// A container by name or ID (prefix).
    pub fn find(&self, key: &str) -> Result<Record> {
        self.containers.find(key)
    }

    /// The container's directory (its log is `container.log` there).
    pub fn dir(&self, record: &Record) -> PathBuf {
        self.containers.dir(&record.id)
    }

    /// Where the container is in its life, from its supervisor's record and the runtime.
    pub fn state(&self, record: &Record) -> State {
        let dir = self.containers.dir(&record.id);
        let Some(exit) = shim::read_record(&Files(&dir).exit()) else { return State::Created };
        let text = |k: &str| exit[k].as_str().unwrap_or_default().to_string();
        if let Some(code) = exit["exitCode"].as_i64() {
            return State::Exited { code: code as i32, started: text("startedAt"), finished: text("finishedAt"), reason: text("reason") };
        }
        // Running while the container runs, and while its supervisor is still cleaning
        // up after it (the final record comes last).
        let running = tug_runtime::state::Container::load(&self.runtime_root(), &record.id)
            .is_ok_and(|c| c.status() == tug_runtime::state::Status::Running)
            || exit["supervisor"].as_i64().is_some_and(|pid| alive(pid as i32));
        match exit["pid"].as_i64() {
            Some(pid) if running => State::Running { pid: pid as i32, started: text("startedAt") },
            // The supervisor was killed before it could record the end.
            _ => State::Exited { code: 255, started: text("startedAt"), finished: String::new(), reason: "SupervisorLost".into() },
        }
    }

    /// Records a new container (nothing runs yet).
    pub fn create(&self, mut options: RunOptions) -> Result<Record> {
        let image = self.image(&options.image)?;
        let args = spec::args(&image.config, &options)?;
        if let NetworkMode::Container(other) = &options.network {
            let other = self.containers.find(other).map_err(|_| {
                Error::NoSuchContainer(format!("{other} (from --network container:{other})"))
            })?;
            options.network = NetworkMode::Container(other.id);
        }
        if !options.ports.is_empty() && options.network != NetworkMode::Bridge {
            return Err(Error::InvalidFlag { flag: "-p", value: format!("{}:{}", options.ports[0].host_port, options.ports[0].container_port), reason: "published ports need --network bridge (the default)".into() });
        }
        let id = new_id()?;
        let name = match &options.name {
            Some(name) => {
                check_name(name)?;
                if let Some(user) = self.containers.list()?.iter().find(|r| &r.name == name) {
                    return Err(Error::Conflict(format!(
                        "the container name {name:?} is already in use by container {}: remove (tug rm) or rename that container to reuse the name",
                        user.id
                    )));
                }
                name.clone()
            }
            None => format!("tug_{}", &id[..12]),
        };
        let record = Record {
            id,
            name,
            image_id: image.id().to_string(),
            image_manifest: image.descriptor.digest().to_string(),
            created: tug_runtime::state::rfc3339(std::time::SystemTime::now()),
            options,
            args,
            ip: None,
        };
        self.containers.save(&record)?;
        Ok(record)
    }

    fn image(&self, input: &str) -> Result<Image> {
        self.store.image(input).map_err(|e| match e {
            tug_image::Error::ImageNotFound(_) => Error::State(format!(
                "unable to find image {input:?} locally: pull it (tug pull {input}), load it (tug image load) or build it (tug build)"
            )),
            other => other.into(),
        })
    }

    /// `tug run`: create, then start; in the foreground (`detach` false) returns the
    /// container's exit code once it ends.
    pub fn run(&self, options: RunOptions, detach: bool) -> Result<(Record, Option<i32>)> {
        let interactive = options.interactive;
        let record = self.create(options)?;
        let started = if detach { self.start(&record.id).map(|()| None) } else { self.run_attached(&record.id, interactive).map(Some) };
        match started {
            Ok(code) => Ok((record, code)),
            Err(e) => {
                // A container that never ran is not kept (docker run leaves it; we leave nothing).
                self.teardown(&record);
                let _ = std::fs::remove_dir_all(self.containers.dir(&record.id));
                Err(e)
            }
        }
    }

    /// Starts a created or exited container under a detached supervisor; returns once
    /// it runs (or failed to start, with the reason).
    pub fn start(&self, key: &str) -> Result<()> {
        let (record, listeners) = self.prepare(key)?;
        let mut command = Command::new(&self.exe);
        command.arg("container-monitor").arg("--data-dir").arg(self.root.parent().unwrap_or(&self.root)).arg(&record.id);
        let fds: Vec<RawFd> = listeners.into_iter().map(ports::inheritable).collect();
        for fd in &fds {
            command.arg("--listen-fd").arg(fd.to_string());
        }
        let spawned = supervisor::detach(command);
        for fd in fds {
            drop(ports::adopt(fd));
        }
        if let Err(e) = spawned {
            self.teardown(&record);
            return Err(Error::io(format!("start the supervisor {}", self.exe.display()), e));
        }
        let exit = Files(&self.containers.dir(&record.id)).exit();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut pause = Duration::from_micros(500);
        loop {
            if let Some(r) = shim::read_record(&exit) {
                return match r["reason"].as_str() {
                    Some("StartError") => Err(Error::State(format!("container {} failed to start: {}", record.name, r["message"].as_str().unwrap_or_default()))),
                    _ => Ok(()),
                };
            }
            // With --rm a container that already ended is gone entirely.
            if !self.containers.dir(&record.id).exists() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::State(format!("container {} did not start within 30s", record.name)));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Starts a container with this process as its supervisor, stdio attached; returns
    /// its exit code.
    pub fn run_attached(&self, key: &str, interactive: bool) -> Result<i32> {
        let (record, listeners) = self.prepare(key)?;
        match self.supervise(&record, listeners, Attach { stdin: interactive, echo: true }) {
            Some(r) if r["reason"] == "StartError" => Err(Error::State(format!(
                "container {} failed to start: {}", record.name, r["message"].as_str().unwrap_or_default()
            ))),
            Some(r) => Ok(r["exitCode"].as_i64().unwrap_or(255) as i32),
            None => Ok(0),
        }
    }

    /// The detached supervisor's body (`tug container-monitor`): `fds` are the
    /// published ports' listeners the caller bound.
    pub fn monitor(&self, id: &str, fds: &[RawFd]) -> Result<()> {
        let record = self.containers.find(id)?;
        let listeners = fds.iter().map(|&fd| ports::adopt(fd)).collect();
        self.supervise(&record, listeners, Attach::default());
        Ok(())
    }

    /// Runs the container to its end, then takes down what `start` made; the
    /// supervisor's record of how it ended.
    fn supervise(&self, record: &Record, listeners: Vec<TcpListener>, attach: Attach) -> Option<Value> {
        let paths = self.paths(record);
        let hooks = Hooks {
            created: Box::new(|pid| self.wire(record, pid).map_err(|e| e.to_string())),
            started: Box::new(|_| {
                if let Some(ip) = record.ip {
                    ports::serve(listeners, &record.options.ports, ip);
                }
            }),
            ended: Box::new(|| self.teardown(record)),
        };
        shim::supervise_with(&paths, attach, hooks);
        let ended = shim::read_record(&paths.record);
        if record.options.auto_remove {
            let _ = std::fs::remove_dir_all(self.containers.dir(&record.id));
        }
        ended
    }

    /// Everything before the supervisor: ports, root filesystem, user, network,
    /// bundle. Undone on failure.
    fn prepare(&self, key: &str) -> Result<(Record, Vec<TcpListener>)> {
        let mut record = self.containers.find(key)?;
        if self.state(&record).running() {
            return Err(Error::Conflict(format!("container {} is already running", record.name)));
        }
        let dir = self.containers.dir(&record.id);
        let _ = std::fs::remove_file(Files(&dir).exit());
        let listeners = ports::bind(&record.options.ports)?;
        let made = self.make(&mut record, &dir);
        if let Err(e) = made {
            self.teardown(&record);
            return Err(e);
        }
        Ok((record, listeners))
    }

    fn make(&self, record: &mut Record, dir: &Path) -> Result<()> {
        let files = Files(dir);
        let image = self.image(&record.image_manifest)?;
        let mut layers = self.store.unpack(&image, &UnpackOptions::default(), &mut |_| {})?;
        layers.push(self.init_layer(record, dir)?);
        // A --rm container's changes are thrown away: no need to sync them at unmount.
        overlay::mount_layers_with(&layers, dir, record.options.auto_remove)?.keep();
        let options = &record.options;
        let user = spec::user(&image.config, options);
        let (uid, gid) = if user.is_empty() {
            (0, 0)
        } else {
            let mut with_upper = layers.clone();
            with_upper.push(files.upper());
            tug_image::build::users::resolve_in(&with_upper, &user)
                .map_err(|e| Error::InvalidFlag { flag: "-u", value: user.clone(), reason: e })?
        };
        let cwd = spec::cwd(&image.config, options);
        tug_image::build::make_workdir(&files.rootfs(), &cwd, uid, gid)?;
        let hostname = options.hostname.clone().unwrap_or_else(|| record.id[..12].to_string());
        let net = match &options.network {
            NetworkMode::Host => spec::Net::Host,
            NetworkMode::None => spec::Net::New,
            NetworkMode::Container(other) => {
                let other = self.containers.find(other)?;
                match self.state(&other) {
                    State::Running { pid, .. } => spec::Net::Join(PathBuf::from(format!("/proc/{pid}/ns/net"))),
                    _ => return Err(Error::State(format!("cannot join the network of container {}: it is not running (start it first)", other.name))),
                }
            }
            NetworkMode::Bridge => {
                let network = self.network()?;
                network.ensure_bridge()?;
                record.ip = Some(network.allocate(&record.id)?);
                spec::Net::New
            }
        };
        let process = spec::Process { args: record.args.clone(), env: spec::env(&image.config, options, &hostname), uid, gid, cwd };
        let config = spec::config(&record.id, options, &process, &files.rootfs(), &hostname, &net);
        let path = dir.join("config.json");
        std::fs::write(&path, config.to_string()).map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        self.containers.save(record)
    }

    /// Between create and start: loopback up in a new network namespace, and the
    /// veth to the bridge with the container's address.
    fn wire(&self, record: &Record, pid: i32) -> Result<()> {
        if matches!(record.options.network, NetworkMode::None | NetworkMode::Bridge) {
            netns::loopback_up(pid)?;
        }
        if let Some(ip) = record.ip {
            self.network()?.attach(&record.id, pid, ip)?;
        }
        Ok(())
    }

    /// The container's init layer (as Docker's): the mount points the runtime needs
    /// (`/dev`, `/proc`, `/sys`, volume destinations) as empty directories in a lower
    /// layer of their own, so they never show in the container's changes or a commit.
    fn init_layer(&self, record: &Record, dir: &Path) -> Result<PathBuf> {
        let init = Files(dir).init();
        let points = ["dev", "proc", "sys"].into_iter().map(String::from);
        let volumes = record.options.volumes.iter().map(|v| v.container.trim_start_matches('/').to_string());
        for point in points.chain(volumes) {
            let clean: PathBuf = Path::new(&point).components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect();
            let path = init.join(clean);
            std::fs::create_dir_all(&path).map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        }
        Ok(init)
    }

    /// Takes down what `start` made: the root filesystem mount, the network namespace,
    /// the veth and the address. Safe to call again.
    pub fn teardown(&self, record: &Record) {
        let dir = self.containers.dir(&record.id);
        overlay::unmount(&dir);
        if record.options.network == NetworkMode::Bridge {
            if let Ok(network) = self.network() {
                network.detach(&record.id);
            }
        }
    }

    /// Waits until the container is no longer running (or `timeout` passes).
    fn wait_exit(&self, record: &Record, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let dir = self.containers.dir(&record.id);
            if !dir.exists() || matches!(self.state(record), State::Exited { .. }) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `tug kill`: sends `signal` to the container's init.
    pub fn kill(&self, key: &str, signal: i32) -> Result<Record> {
        let record = self.containers.find(key)?;
        if !self.state(&record).running() {
            return Err(Error::Conflict(format!("container {} is not running", record.name)));
        }
        tug_runtime::kill::kill(&self.runtime_root(), &record.id, signal, false)?;
        Ok(record)
    }

    /// `tug stop`: SIGTERM, then SIGKILL after `timeout`; waits for the end.
    pub fn stop(&self, key: &str, timeout: Duration) -> Result<Record> {
        let record = self.containers.find(key)?;
        if !self.state(&record).running() {
            return Ok(record);
        }
        let _ = tug_runtime::kill::kill(&self.runtime_root(), &record.id, libc::SIGTERM, false);
        if !self.wait_exit(&record, timeout) {
            let _ = tug_runtime::kill::kill(&self.runtime_root(), &record.id, libc::SIGKILL, true);
            if !self.wait_exit(&record, Duration::from_secs(10)) {
                return Err(Error::State(format!("container {} did not stop after SIGKILL", record.name)));
            }
        }
        Ok(record)
    }

    /// `tug rm`: a running container only with `force` (killed first).
    pub fn remove(&self, key: &str, force: bool) -> Result<Record> {
        let record = self.containers.find(key)?;
        if self.state(&record).running() {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container {}: it is running; stop it first (tug stop) or use tug rm -f", record.name
                )));
            }
            let _ = tug_runtime::kill::kill(&self.runtime_root(), &record.id, libc::SIGKILL, true);
            if !self.wait_exit(&record, Duration::from_secs(10)) {
                return Err(Error::State(format!("container {} did not stop after SIGKILL", record.name)));
            }
        }
        self.teardown(&record);
        let _ = tug_runtime::delete::delete(&self.runtime_root(), &record.id, true);
        let dir = self.containers.dir(&record.id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(format!("remove {}", dir.display()), e)),
            _ => Ok(record),
        }
    }

    /// `tug exec`: runs a process in a running container; its exit code.
    pub fn exec(&self, key: &str, options: &ExecOptions) -> Result<i32> {
        let record = self.containers.find(key)?;
        if !self.state(&record).running() {
            return Err(Error::Conflict(format!("container {} is not running: start it first", record.name)));
        }
        let root = self.runtime_root();
        let mut process = tug_runtime::exec::base_process(&root, &record.id)?;
        process.set_args(Some(options.args.clone()));
        if !options.env.is_empty() {
            let mut env = process.env().clone().unwrap_or_default();
            for entry in &options.env {
                let key = entry.split('=').next().unwrap_or_default();
                env.retain(|e| e.split('=').next() != Some(key));
                env.push(entry.clone());
            }
            process.set_env(Some(env));
        }
        if let Some(cwd) = &options.workdir {
            process.set_cwd(PathBuf::from(cwd));
        }
        if let Some(user) = &options.user {
            let image = self.image(&record.image_manifest)?;
            let mut layers = self.store.unpack(&image, &UnpackOptions::default(), &mut |_| {})?;
            layers.push(Files(&self.containers.dir(&record.id)).upper());
            let (uid, gid) = tug_image::build::users::resolve_in(&layers, user)
                .map_err(|e| Error::InvalidFlag { flag: "-u", value: user.clone(), reason: e })?;
            let mut u = process.user().clone();
            u.set_uid(uid);
            u.set_gid(gid);
            u.set_additional_gids(None);
            process.set_user(u);
        }
        Ok(tug_runtime::exec::exec(&tug_runtime::exec::ExecOptions {
            root,
            id: record.id.clone(),
            process,
            detach: false,
            pid_file: None,
            console_socket: None,
        })?)
    }

    /// `tug top`: the container's processes.
    pub fn top(&self, key: &str) -> Result<Vec<Proc>> {
        let record = self.containers.find(key)?;
        if !self.state(&record).running() {
            return Err(Error::Conflict(format!("container {} is not running", record.name)));
        }
        let pids = tug_runtime::query::pids(&self.runtime_root(), &record.id)?;
        Ok(pids.into_iter().filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse::<i64>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let command = cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ");
            Some(Proc { uid: field("Uid:")? as u32, pid, ppid: field("PPid:")? as i32, command })
        }).collect())
    }

    /// `tug stats`: the container's cgroup statistics.
    pub fn stats(&self, record: &Record) -> Result<tug_runtime::cgroups::Stats> {
        Ok(tug_runtime::query::stats(&self.runtime_root(), &record.id)?)
    }

    /// `tug diff`: the container's changes over its image.
    pub fn diff(&self, key: &str) -> Result<Vec<Change>> {
        let record = self.containers.find(key)?;
        let image = self.image(&record.image_manifest)?;
        let layers = self.store.unpack(&image, &UnpackOptions::default(), &mut |_| {})?;
        let upper = Files(&self.containers.dir(&record.id)).upper();
        if !upper.exists() {
            return Ok(Vec::new());
        }
        let mut lower = layers;
        lower.push(Files(&self.containers.dir(&record.id)).init());
        Ok(changes::container_changes(&upper, &lower)?)
    }

    /// `tug commit`: the container's changes as a new image, tagged `name` if given.
    pub fn commit(&self, key: &str, name: Option<&Reference>, author: Option<String>, message: Option<String>) -> Result<Descriptor> {
        let record = self.containers.find(key)?;
        let image = self.image(&record.image_manifest)?;
        let upper = Files(&self.containers.dir(&record.id)).upper();
        std::fs::create_dir_all(&upper).map_err(|e| Error::io(format!("create {}", upper.display()), e))?;
        let options = CommitOptions { created_by: record.args.join(" "), author, message };
        let descriptor = tug_image::commit::commit(&self.store, &image, &upper, &options)?;
        if let Some(name) = name {
            self.store.tag(name, &descriptor)?;
        }
        Ok(descriptor)
    }

    /// `tug inspect`: Docker's shape (the fields tug has).
    pub fn inspect(&self, record: &Record) -> Value {
        let state = self.state(record);
        let (pid, code, started, finished) = match &state {
            State::Created => (0, 0, String::new(), String::new()),
            State::Running { pid, started } => (*pid, 0, started.clone(), String::new()),
            State::Exited { code, started, finished, .. } => (0, *code, started.clone(), finished.clone()),
        };
        let o = &record.options;
        let network = match &o.network {
            NetworkMode::Container(id) => format!("container:{id}"),
            other => serde_json::to_value(other).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
        };
        let ports: serde_json::Map<String, Value> = o.ports.iter().map(|p| {
            (format!("{}/tcp", p.container_port), serde_json::json!([{"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}]))
        }).collect();
        serde_json::json!({
            "Id": record.id,
            "Created": record.created,
            "Path": record.args.first(),
            "Args": record.args.get(1..),
            "State": {
                "Status": state.word(), "Running": state.running(), "Pid": pid, "ExitCode": code,
                "StartedAt": started, "FinishedAt": finished,
                "OOMKilled": matches!(&state, State::Exited { reason, .. } if reason == "OOMKilled"),
            },
            "Image": record.image_id,
            "Name": format!("/{}", record.name),
            "LogPath": Files(&self.containers.dir(&record.id)).log(),
            "Config": {
                "Hostname": o.hostname.clone().unwrap_or_else(|| record.id[..12].to_string()),
                "User": o.user, "Env": o.env, "Cmd": o.command, "Image": o.image,
                "WorkingDir": o.workdir, "Entrypoint": o.entrypoint,
            },
            "HostConfig": {
                "AutoRemove": o.auto_remove, "NetworkMode": network, "ReadonlyRootfs": o.read_only,
                "Memory": o.memory.unwrap_or(0), "NanoCpus": o.cpus.map_or(0, |c| (c * 1e9) as i64),
                "PidsLimit": o.pids_limit, "PortBindings": ports,
                "Binds": o.volumes.iter().map(|v| format!("{}:{}{}", v.host.display(), v.container, if v.read_only { ":ro" } else { "" })).collect::<Vec<_>>(),
            },
            "NetworkSettings": {
                "IPAddress": record.ip.filter(|_| state.running()).map(|ip| ip.to_string()).unwrap_or_default(),
                "Gateway": if record.ip.is_some() && state.running() { "10.88.0.1" } else { "" },
                "Ports": ports,
            },
        })
    }

    /// The containers made from image `id` (config digest), so `rmi` can refuse.
    pub fn users_of_image(&self, manifest: &str) -> Result<Vec<Record>> {
        Ok(self.containers.list()?.into_iter().filter(|r| r.image_manifest == manifest).collect())
    }
}

/// Whether process `pid` exists.
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// 64 random hex digits.
fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    let mut f = std::fs::File::open("/dev/urandom").map_err(|e| Error::io("open /dev/urandom", e))?;
    std::io::Read::read_exact(&mut f, &mut bytes).map_err(|e| Error::io("read /dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Docker's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() >= 2;
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidFlag { flag: "--name", value: name.to_string(), reason: "names match [a-zA-Z0-9][a-zA-Z0-9_.-]+".into() })
    }
}
