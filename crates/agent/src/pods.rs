//! The pods bound to this node, made real. One task per pod (so one pod is never
//! reconciled twice at once, and pods start in parallel) runs [`Worker::sync`]
//! whenever the pod changes or a timer fires: sandbox and network, volumes, then
//! each container through its supervisor, restarts per `restartPolicy` with
//! kubelet's exponential back-off, and the pod's status. Everything the worker
//! knows lives on disk under `<data-dir>/pods/<uid>/`, so a restarted agent picks
//! up running pods where they are, without restarting a container.
//!
//! A pod with a deletionTimestamp is stopped (SIGTERM, the grace period, SIGKILL),
//! its mounts, cgroups, veth and address are removed, and its object is deleted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::watcher::{self, Event};
use kube::Client;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::env::{ConfigError, Sources};
use tug_network::Network;
use crate::shim;
use crate::{actions, probes, sandbox, spec, volumes, Error, Options};

/// Kubelet's container restart back-off: 10 s doubling to 5 min.
const BACKOFF_START: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How often a worker looks at its pod when nothing changed.
const RESYNC: Duration = Duration::from_secs(1);
/// How often a running pod's configMap and secret volumes are brought up to date.
const VOLUME_REFRESH: Duration = Duration::from_secs(3);

/// What every pod worker shares.
pub struct Node {
    pub client: Client,
    pub options: Options,
    pub network: Network,
    pub images: tug_image::Store,
    /// tug-runtime's state root for this node's containers.
    pub runtime_root: PathBuf,
    pub node_ip: String,
    pub cpu_millis: i128,
    pub memory: i128,
    /// The service proxy's cache of Services (containers' Service variables).
    pub services: kube::runtime::reflector::Store<k8s_openapi::api::core::v1::Service>,
    /// hostPort forwarders of the pods here.
    pub(crate) host_ports: crate::host_ports::HostPorts,
}

impl Node {
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.options.data_dir.join("pods").join(uid)
    }
}

/// Watches the pods bound to the node and keeps one worker per pod.
pub async fn run(node: Arc<Node>) -> Result<(), Error> {
    let pods: Api<Pod> = Api::all(node.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", node.options.node_name));
    let mut events = std::pin::pin!(watcher::watcher(pods, config));
    let mut workers: HashMap<String, watch::Sender<Option<Pod>>> = HashMap::new();
    let mut listed: Vec<String> = Vec::new();
    while let Some(event) = events.next().await {
        let pod = match event {
            Ok(Event::Init) => {
                listed.clear();
                None
            }
            Ok(Event::InitApply(pod)) => {
                listed.extend(pod.metadata.uid.clone());
                Some(pod)
            }
            Ok(Event::InitDone) => {
                sweep_orphans(&node, &listed, &workers);
                None
            }
            Ok(Event::Apply(pod)) => Some(pod),
            Ok(Event::Delete(pod)) => {
                // Gone from the API (deleted by force): stop what runs, nothing left to report to.
                if let Some(tx) = pod.metadata.uid.as_ref().and_then(|uid| workers.get(uid)) {
                    let _ = tx.send(None);
                }
                None
            }
            Err(_) => None,
        };
        let Some(pod) = pod else { continue };
        let Some(uid) = pod.metadata.uid.clone() else { continue };
        workers.retain(|_, tx| !tx.is_closed());
        match workers.get(&uid) {
            Some(tx) => {
                let _ = tx.send(Some(pod));
            }
            None => {
                let (tx, rx) = watch::channel(Some(pod));
                workers.insert(uid, tx);
                tokio::spawn(Worker::new(node.clone(), rx).run());
            }
        }
    }
    Err(Error::Internal("the pod watch ended".into()))
}

/// Removes, off the async workers, the pod directories of pods neither `listed` (the
/// watch's fresh list) nor run by a worker: pods deleted while the agent was not
/// watching.
fn sweep_orphans(node: &Arc<Node>, listed: &[String], workers: &HashMap<String, watch::Sender<Option<Pod>>>) {
    let orphans: Vec<String> = std::fs::read_dir(node.options.data_dir.join("pods"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|uid| !listed.contains(uid) && !workers.contains_key(uid))
        .collect();
    for uid in orphans {
        eprintln!("tug agent: removing pod {uid}, deleted while the agent was away");
        let node = node.clone();
        tokio::task::spawn_blocking(move || remove_orphan(&node, &uid));
    }
}

/// One attempt at running a container: its files and what its supervisor recorded.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) number: u32,
    pub(crate) record: Option<Value>,
    /// Its supervisor lives (it may not have written a record yet).
    supervised: bool,
}

impl Attempt {
    pub(crate) fn exit_code(&self) -> Option<i64> {
        self.record.as_ref()?.get("exitCode")?.as_i64()
    }
    pub(crate) fn running(&self) -> bool {
        self.record.as_ref().is_some_and(|r| r.get("pid").is_some()) && self.exit_code().is_none()
    }
    /// Its supervisor never started, or died before writing a record: the agent stopped
    /// while preparing it, or preparing it failed.
    fn abandoned(&self) -> bool {
        self.record.is_none() && !self.supervised
    }
    fn field(&self, name: &str) -> Option<String> {
        self.record.as_ref()?.get(name)?.as_str().map(str::to_string)
    }
}

/// Why a container is not running, as kubelet says it.
#[derive(Debug, Clone, PartialEq)]
struct Waiting {
    reason: String,
    message: String,
}

struct Worker {
    node: Arc<Node>,
    rx: watch::Receiver<Option<Pod>>,
    /// Waiting reasons of containers that could not start, by name.
    waiting: HashMap<String, Waiting>,
    /// Image IDs by container name.
    image_ids: HashMap<String, String>,
    /// Probe state by container name.
    probes: HashMap<String, probes::State>,
    /// The attempt whose postStart hook has run, by container name.
    post_started: HashMap<String, u32>,
    /// The last volume setup failure (reported once as a `FailedMount` event).
    mount_error: Option<String>,
    /// Failed image pulls by container name: how many in a row, and when the last was.
    pull_failures: HashMap<String, (u32, Timestamp)>,
    last_status: Option<Value>,
    /// When the configMap and secret volumes were last rewritten from the API.
    volumes_refreshed: Option<std::time::Instant>,
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

impl Worker {
    fn new(node: Arc<Node>, rx: watch::Receiver<Option<Pod>>) -> Worker {
        Worker { node, rx, waiting: HashMap::new(), image_ids: HashMap::new(), probes: HashMap::new(), post_started: HashMap::new(), mount_error: None, pull_failures: HashMap::new(), last_status: None, volumes_refreshed: Some(std::time::Instant::now()) }
    }

    async fn run(mut self) {
        let mut last_seen: Option<Pod> = None;
        loop {
            let Some(pod) = self.rx.borrow_and_update().clone() else {
                if let Some(pod) = last_seen {
                    self.terminate(&pod, 0).await;
                    self.cleanup(&uid_of(&pod));
                }
                return;
            };
            last_seen = Some(pod.clone());
            if pod.metadata.deletion_timestamp.is_some() {
                let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30);
                self.terminate(&pod, grace).await;
                self.cleanup(&uid_of(&pod));
                let pods: Api<Pod> = Api::namespaced(self.node.client.clone(), pod.metadata.namespace.as_deref().unwrap_or("default"));
                let params = DeleteParams { grace_period_seconds: Some(0), preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }), ..DeleteParams::default() };
                let _ = pods.delete(pod.metadata.name.as_deref().unwrap_or_default(), &params).await;
                return;
            }
            let wake = match self.sync(&pod).await {
                Ok(wake) => wake,
                Err(e) => {
                    eprintln!("tug agent: pod {}/{}: {e}", pod.metadata.namespace.as_deref().unwrap_or_default(), pod.metadata.name.as_deref().unwrap_or_default());
                    RESYNC
                }
            };
            tokio::select! {
                changed = self.rx.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(wake) => {}
            }
        }
    }

    fn attempts(&self, uid: &str, container: &str) -> Vec<Attempt> {
        attempts(&self.node.pod_dir(uid), container)
    }

    fn runtime_id(uid: &str, container: &str, attempt: u32) -> String {
        runtime_id(uid, container, attempt)
    }

    /// Brings the pod one step closer to its spec; returns when to look again.
    async fn sync(&mut self, pod: &Pod) -> Result<Duration, Error> {
        let uid = uid_of(pod);
        let spec = pod.spec.clone().unwrap_or_default();
        let pod_dir = self.node.pod_dir(&uid);
        let (sandbox_pid, pod_ip) = self.ensure_sandbox(pod, &pod_dir).await?;
        if !spec.host_network.unwrap_or(false) {
            if let Err(message) = self.node.host_ports.ensure(&uid, pod, &pod_ip).await {
                eprintln!("tug agent: pod {}: {message}", pod.metadata.name.as_deref().unwrap_or_default());
            }
        }
        let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let sources = Sources::new(self.node.client.clone(), &namespace, self.node.services.clone());
        let mut wake = RESYNC;
        let policy = spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
        let mut volumes = None;
        let ctx = Launch { sandbox_pid, pod_ip: &pod_ip, pod_dir: &pod_dir, sources: &sources };
        // Init containers one at a time, in order; the app containers once all have succeeded.
        let mut initialized = true;
        for container in spec.init_containers.iter().flatten() {
            let last = self.attempts(&uid, &container.name).into_iter().last();
            if last.as_ref().is_some_and(|a| a.exit_code() == Some(0)) {
                continue;
            }
            initialized = false;
            if let Some(number) = self.next_attempt(pod, container, last.as_ref(), init_policy(&policy), &mut wake) {
                self.launch(pod, container, number, &ctx, &mut volumes, &mut wake).await;
            }
            break;
        }
        if initialized {
            for container in &spec.containers {
                let last = self.attempts(&uid, &container.name).into_iter().last();
                if let Some(number) = self.next_attempt(pod, container, last.as_ref(), &policy, &mut wake) {
                    self.launch(pod, container, number, &ctx, &mut volumes, &mut wake).await;
                }
            }
        }
        if self.volumes_refreshed.is_none_or(|at| at.elapsed() >= VOLUME_REFRESH) {
            volumes::refresh(pod, &pod_dir, &sources).await;
            self.volumes_refreshed = Some(std::time::Instant::now());
        }
        wake = wake.min(self.probe(pod, &spec.containers, &pod_ip).await);
        self.report(pod, &pod_ip).await?;
        Ok(wake)
    }

    /// The attempt of `container` to start now, if any: the first, or the next one once
    /// the last has ended, the policy restarts it, and its back-off has passed (until
    /// then the container is waiting in `CrashLoopBackOff`).
    fn next_attempt(&mut self, pod: &Pod, container: &Container, last: Option<&Attempt>, policy: &str, wake: &mut Duration) -> Option<u32> {
        let a = match last {
            None => return Some(0),
            Some(a) if a.abandoned() => {
                discard_attempt(&self.node.pod_dir(&uid_of(pod)), &container.name, a.number);
                return Some(a.number);
            }
            Some(a) if a.running() || a.record.is_none() => return None, // running, or its supervisor is starting it
            Some(a) => a,
        };
        let code = a.exit_code().unwrap_or(0);
        if !(policy == "Always" || (policy == "OnFailure" && code != 0)) {
            return None;
        }
        let delay = backoff(a.number);
        let finished = a.field("finishedAt").and_then(|t| t.parse::<Timestamp>().ok()).unwrap_or_else(Timestamp::now);
        let due = finished + delay;
        let now = Timestamp::now();
        if now >= due {
            return Some(a.number + 1);
        }
        let left = (due.as_millisecond() - now.as_millisecond()).max(0) as u64;
        *wake = (*wake).min(Duration::from_millis(left));
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        self.waiting.insert(container.name.clone(), Waiting {
            reason: "CrashLoopBackOff".into(),
            message: format!("back-off {}s restarting failed container={} pod={}_{}({})", delay.as_secs(), container.name, pod.metadata.name.as_deref().unwrap_or_default(), namespace, uid_of(pod)),
        });
        None
    }

    /// Starts attempt `number` of `container`, preparing the pod's volumes first if this
    /// sync has not yet; a failure is recorded as the container's waiting reason.
    async fn launch(&mut self, pod: &Pod, container: &Container, number: u32, ctx: &Launch<'_>, volumes: &mut Option<volumes::Prepared>, wake: &mut Duration) {
        if volumes.is_none() {
            match volumes::prepare(pod, ctx.pod_dir, ctx.sources).await {
                Ok(v) => *volumes = Some(v),
                Err(ConfigError(message)) => {
                    // As kubelet: the container stays ContainerCreating, the event says why.
                    self.waiting.insert(container.name.clone(), Waiting { reason: "ContainerCreating".into(), message: String::new() });
                    if self.mount_error.as_ref() != Some(&message) {
                        crate::events::record(&self.node.client, pod, &self.node.options.node_name, "Warning", "FailedMount", &message, None).await;
                        self.mount_error = Some(message);
                    }
                    return;
                }
            }
        }
        self.mount_error = None;
        if let Some(&(failures, last)) = self.pull_failures.get(&container.name) {
            let due = last + backoff(failures.saturating_sub(1));
            let now = Timestamp::now();
            if now < due {
                let image = container.image.clone().unwrap_or_default();
                let waiting = Waiting { reason: "ImagePullBackOff".into(), message: format!("Back-off pulling image \"{image}\"") };
                if self.waiting.get(&container.name) != Some(&waiting) {
                    crate::events::record(&self.node.client, pod, &self.node.options.node_name, "Normal", "BackOff", &waiting.message, Some(&container.name)).await;
                    self.waiting.insert(container.name.clone(), waiting);
                }
                *wake = (*wake).min(Duration::from_millis((due.as_millisecond() - now.as_millisecond()).max(0) as u64));
                return;
            }
        }
        let prepared = volumes.as_ref().cloned().unwrap_or_default();
        match self.start(pod, container, number, ctx.sandbox_pid, ctx.pod_ip, &prepared, ctx.sources).await {
            Ok(()) => {
                self.waiting.remove(&container.name);
                self.pull_failures.remove(&container.name);
                *wake = Duration::from_millis(50);
            }
            Err((reason, message)) => {
                if self.attempts(&uid_of(pod), &container.name).last().is_some_and(|a| a.number == number && a.abandoned()) {
                    discard_attempt(ctx.pod_dir, &container.name, number);
                }
                if reason == "ErrImagePull" {
                    let failures = self.pull_failures.get(&container.name).map_or(0, |f| f.0) + 1;
                    self.pull_failures.insert(container.name.clone(), (failures, Timestamp::now()));
                }
                self.fail(pod, container, &reason, message).await;
            }
        }
    }

    /// Runs the running containers' due probes; kills those that failed liveness or
    /// startup. Returns when probes are due next.
    async fn probe(&mut self, pod: &Pod, containers: &[Container], pod_ip: &str) -> Duration {
        let uid = uid_of(pod);
        let mut wake = RESYNC * 10;
        for container in containers {
            let Some(attempt) = self.attempts(&uid, &container.name).into_iter().last().filter(Attempt::running) else {
                self.probes.remove(&container.name);
                continue;
            };
            let started = attempt.field("startedAt").and_then(|t| t.parse::<Timestamp>().ok()).unwrap_or_else(Timestamp::now);
            let running_for = Duration::from_millis((Timestamp::now().as_millisecond() - started.as_millisecond()).max(0) as u64);
            let since = tokio::time::Instant::now().checked_sub(running_for).unwrap_or_else(tokio::time::Instant::now);
            let id = Worker::runtime_id(&uid, &container.name, attempt.number);
            let target = actions::Target { exe: &self.node.options.sandbox_exe, runtime_root: self.node.runtime_root.clone(), id: id.clone(), pod_ip: pod_ip.to_string(), container };
            let node_name = &self.node.options.node_name;
            if let Some(hook) = container.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
                if self.post_started.get(&container.name) != Some(&attempt.number) {
                    self.post_started.insert(container.name.clone(), attempt.number);
                    if let Err(failure) = actions::run(&hook_action(hook), &target, HOOK_TIMEOUT).await {
                        let text = format!("PostStartHook failed: {}", failure.message());
                        crate::events::record(&self.node.client, pod, node_name, "Warning", "FailedPostStartHook", &text, Some(&container.name)).await;
                        self.stop_container(&id, 0).await;
                        continue;
                    }
                }
            }
            let verdict = self.probes.entry(container.name.clone()).or_default().tick(attempt.number, since, &target).await;
            for message in &verdict.unhealthy {
                crate::events::record(&self.node.client, pod, node_name, "Warning", "Unhealthy", message, Some(&container.name)).await;
            }
            if let Some(message) = verdict.kill {
                crate::events::record(&self.node.client, pod, node_name, "Normal", "Killing", &message, Some(&container.name)).await;
                let grace = container
                    .liveness_probe
                    .as_ref()
                    .and_then(|p| p.termination_grace_period_seconds)
                    .or(pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
                    .unwrap_or(30);
                self.stop_container(&id, grace).await;
                wake = Duration::from_millis(50);
            }
            if let Some(next) = verdict.wake {
                wake = wake.min(next);
            }
        }
        wake
    }

    /// The pod's address, from its sandbox record.
    fn pod_ip(&self, uid: &str) -> String {
        shim::read_record(&self.node.pod_dir(uid).join("sandbox.json"))
            .and_then(|r| r.get("ip").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default()
    }

    /// Stops one container: SIGTERM, then SIGKILL after `grace` seconds if it still runs.
    async fn stop_container(&self, id: &str, grace: i64) {
        let root = self.node.runtime_root.clone();
        let _ = tug_runtime::kill::kill(&root, id, libc::SIGTERM, true);
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(grace.max(0) as u64)).await;
            let _ = tug_runtime::kill::kill(&root, &id, libc::SIGKILL, true);
        });
    }

    /// Records a container that cannot start: waiting reason in status and a `Failed` event.
    async fn fail(&mut self, pod: &Pod, container: &Container, reason: &str, message: String) {
        let waiting = Waiting { reason: reason.into(), message: message.clone() };
        if self.waiting.get(&container.name) == Some(&waiting) {
            return;
        }
        self.waiting.insert(container.name.clone(), waiting);
        crate::events::record(&self.node.client, pod, &self.node.options.node_name, "Warning", "Failed", &message, Some(&container.name)).await;
        crate::events::record(&self.node.client, pod, &self.node.options.node_name, "Warning", "Failed", &format!("Error: {reason}"), Some(&container.name)).await;
    }

    /// The sandbox (started if missing) and the pod's address. Starting one waits on
    /// processes (the holder, `ip`, `nsenter`), so it runs off the async workers, which
    /// the API server shares in `tug up`.
    async fn ensure_sandbox(&self, pod: &Pod, pod_dir: &Path) -> Result<(i32, String), Error> {
        let path = pod_dir.join("sandbox.json");
        if let Some(saved) = shim::read_record(&path) {
            let pid = saved.get("pid").and_then(Value::as_i64).unwrap_or(0) as i32;
            if sandbox::alive(pid) {
                return Ok((pid, saved.get("ip").and_then(Value::as_str).unwrap_or_default().to_string()));
            }
        }
        let (node, pod, pod_dir) = (self.node.clone(), pod.clone(), pod_dir.to_path_buf());
        tokio::task::spawn_blocking(move || start_sandbox(&node, &pod, &pod_dir))
            .await
            .map_err(|e| Error::Internal(format!("start the pod sandbox: {e}")))?
    }

    /// Starts attempt `number` of a container under its own supervisor.
    #[allow(clippy::too_many_arguments)]
    async fn start(&mut self, pod: &Pod, container: &Container, number: u32, sandbox_pid: i32, pod_ip: &str, volumes: &volumes::Prepared, sources: &Sources) -> Result<(), (String, String)> {
        let uid = uid_of(pod);
        let image_name = container.image.clone().unwrap_or_default();
        let image = self.image(&image_name, container.image_pull_policy.as_deref()).await?;
        self.image_ids.insert(container.name.clone(), format!("{}", image.id()));
        let mut with_ip = pod.clone();
        let status = with_ip.status.get_or_insert_with(Default::default);
        status.pod_ip = Some(pod_ip.to_string());
        status.host_ip = Some(self.node.node_ip.clone());
        let env = crate::env::resolve(sources, &with_ip, container, self.node.cpu_millis, self.node.memory)
            .await
            .map_err(|ConfigError(m)| ("CreateContainerConfigError".to_string(), m))?;
        let mut mounts = Vec::new();
        for m in container.volume_mounts.iter().flatten() {
            let source = volumes.get(&m.name).ok_or_else(|| ("CreateContainerConfigError".to_string(), format!("cannot find volume \"{}\" to mount into container \"{}\"", m.name, container.name)))?;
            let source = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sub) => {
                    let p = source.join(sub);
                    let _ = std::fs::create_dir_all(&p);
                    p
                }
                None => source.clone(),
            };
            mounts.push((m.mount_path.clone(), source.to_string_lossy().into_owned(), m.read_only.unwrap_or(false)));
        }
        let dir = self.node.pod_dir(&uid).join("containers").join(&container.name).join(number.to_string());
        let fail = |what: &str, e: &dyn std::fmt::Display| ("CreateContainerError".to_string(), format!("failed to {what}: {e}"));
        if !mounts.iter().any(|(destination, _, _)| destination == "/etc/resolv.conf") {
            let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let path = self.node.pod_dir(&uid).join("resolv.conf");
            std::fs::write(&path, crate::dns::resolv::resolv_conf(pod, crate::dns::CLUSTER_DNS, &host)).map_err(|e| fail("write resolv.conf", &e))?;
            mounts.push(("/etc/resolv.conf".into(), path.to_string_lossy().into_owned(), true));
        }
        std::fs::create_dir_all(&dir).map_err(|e| fail("create the container directory", &e))?;
        // The file the container may write its termination message to, bind-mounted at terminationMessagePath.
        let message_file = dir.join(TERMINATION_LOG);
        std::fs::write(&message_file, b"").map_err(|e| fail("create the termination message file", &e))?;
        let message_path = container.termination_message_path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/dev/termination-log".into());
        mounts.push((message_path, message_file.to_string_lossy().into_owned(), false));
        self.ensure_pod_cgroup(pod).map_err(|e| fail("create the pod's cgroup", &e))?;
        let store = self.node.images.clone();
        let mount_dir = dir.clone();
        let image_for_mount = image.clone();
        let mount = tokio::task::spawn_blocking(move || tug_image::overlay::mount_rootfs(&store, &image_for_mount, &mount_dir))
            .await
            .map_err(|e| fail("mount the root filesystem", &e))?
            .map_err(|e| fail("mount the root filesystem", &e))?;
        // The rootfs stays mounted while the container runs; teardown unmounts it by path.
        std::mem::forget(mount);
        let config = spec::config(&spec::Inputs {
            pod,
            container,
            image: &image.config,
            env,
            mounts,
            sandbox_pid,
            cgroup: self.cgroup(pod, &container.name),
        });
        std::fs::write(dir.join("config.json"), config.to_string()).map_err(|e| fail("write config.json", &e))?;
        if container.stdin == Some(true) {
            make_fifo(&stdin_fifo(&self.node.pod_dir(&uid), &container.name, number)).map_err(|e| fail("create the stdin FIFO", &e))?;
        }
        let log = log_path(&self.node.pod_dir(&uid), &container.name, number);
        if let Some(parent) = log.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail("create the log directory", &e))?;
        }
        let paths = shim::Paths {
            root: self.node.runtime_root.clone(),
            id: Worker::runtime_id(&uid, &container.name, number),
            bundle: dir.clone(),
            log,
            record: dir.join("record.json"),
        };
        let supervisor = crate::supervisor::spawn(&self.node.options.sandbox_exe, &paths).map_err(|e| fail("start the container's supervisor", &e))?;
        // Written with no await in between, so an agent stopping now cannot leave a
        // supervisor behind that a restarted agent would take for abandoned.
        std::fs::write(dir.join(SUPERVISOR_PID), supervisor.to_string()).map_err(|e| fail("record the supervisor's PID", &e))?;
        Ok(())
    }

    /// The container's cgroup, under its pod's ([`Worker::pod_cgroup`]).
    fn cgroup(&self, pod: &Pod, container: &str) -> String {
        format!("{}/{container}", self.pod_cgroup(pod))
    }

    /// The pod's cgroup ([`pod_cgroup`]).
    fn pod_cgroup(&self, pod: &Pod) -> String {
        pod_cgroup(&self.node.options.node_name, pod)
    }

    /// Creates the pod's cgroup with the pod-level limits (kubelet's: the sum of the
    /// containers' memory and CPU limits when all have one; CPU shares from the requests).
    fn ensure_pod_cgroup(&self, pod: &Pod) -> Result<(), tug_runtime::Error> {
        let resources: oci_spec::runtime::LinuxResources = serde_json::from_value(spec::pod_resources(pod)).unwrap_or_default();
        let cgroup = tug_runtime::cgroups::Cgroup::resolve(Some(Path::new(&self.pod_cgroup(pod))), "")?;
        cgroup.create(Some(&resources))?;
        Ok(())
    }

    /// The image from the local store, pulled when missing and the policy allows it.
    async fn image(&self, name: &str, policy: Option<&str>) -> Result<tug_image::Image, (String, String)> {
        let policy = policy.unwrap_or(if name.ends_with(":latest") || !name.contains(':') { "Always" } else { "IfNotPresent" });
        let store = self.node.images.clone();
        let lookup = name.to_string();
        let local = tokio::task::spawn_blocking(move || store.image(&lookup)).await.ok().and_then(Result::ok);
        match (local, policy) {
            (Some(image), "Never" | "IfNotPresent") => Ok(image),
            (None, "Never") => Err(("ErrImageNeverPull".into(), format!("Container image \"{name}\" is not present with pull policy of Never"))),
            (local, _) => {
                let store = self.node.images.clone();
                let wanted = name.to_string();
                let pulled = tokio::task::spawn_blocking(move || -> Result<tug_image::Image, tug_image::Error> {
                    let reference = tug_image::Reference::parse(&wanted)?;
                    tug_image::registry::pull(&store, &reference, &tug_image::registry::Options::default(), &|_| {})?;
                    store.image(&wanted)
                })
                .await;
                match (pulled, local) {
                    (Ok(Ok(image)), _) => Ok(image),
                    // `Always` with a copy at hand and the registry out of reach: run what we have.
                    (_, Some(image)) => Ok(image),
                    (Ok(Err(e)), None) => Err(("ErrImagePull".into(), format!("Failed to pull image \"{name}\": {e}"))),
                    (Err(e), None) => Err(("ErrImagePull".into(), format!("Failed to pull image \"{name}\": {e}"))),
                }
            }
        }
    }

    /// The pod's status from the containers' records; written when it changed.
    async fn report(&mut self, pod: &Pod, pod_ip: &str) -> Result<(), Error> {
        let uid = uid_of(pod);
        let spec = pod.spec.clone().unwrap_or_default();
        let policy = spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
        let inits = spec.init_containers.clone().unwrap_or_default();
        let mut init_statuses = Vec::new();
        let (mut init_done, mut init_failed) = (0, false);
        for container in &inits {
            let (status, tally) = self.container_status(&uid, container, init_policy(&policy), true);
            match tally {
                Tally::Succeeded => init_done += 1,
                Tally::Failed => init_failed = true,
                _ => {}
            }
            init_statuses.push(status);
        }
        let initialized = init_done == inits.len();
        let mut statuses = Vec::new();
        let (mut running, mut succeeded, mut failed, mut waiting) = (0, 0, 0, 0);
        for container in &spec.containers {
            let (mut status, tally) = self.container_status(&uid, container, &policy, false);
            if !initialized && status["state"]["waiting"]["reason"] == "ContainerCreating" {
                status["state"]["waiting"]["reason"] = json!("PodInitializing");
            }
            match tally {
                Tally::Running => running += 1,
                Tally::Succeeded => succeeded += 1,
                Tally::Failed => failed += 1,
                Tally::Waiting => waiting += 1,
            }
            statuses.push(status);
        }
        let total = spec.containers.len();
        let phase = if init_failed {
            "Failed"
        } else if !initialized {
            "Pending"
        } else if succeeded == total {
            "Succeeded"
        } else if failed > 0 && running == 0 && waiting == 0 {
            "Failed"
        } else if running > 0 || (succeeded + failed > 0 && waiting < total) {
            "Running"
        } else {
            "Pending"
        };
        let all_ready = total > 0 && statuses.iter().all(|s| s["ready"] == json!(true));
        let names = |list: &[Value], pick: &dyn Fn(&Value) -> bool| -> String {
            list.iter().filter(|s| pick(s)).filter_map(|s| s["name"].as_str()).collect::<Vec<_>>().join(" ")
        };
        let not_ready = names(&statuses, &|s| s["ready"] != json!(true));
        let incomplete = names(&init_statuses, &|s| s["ready"] != json!(true));
        let cond = |type_: &str, ok: bool, reason: Option<&str>| {
            let mut c = json!({"type": type_, "status": if ok { "True" } else { "False" }});
            if let (false, Some(reason)) = (ok, reason) {
                c["reason"] = json!(reason);
                c["message"] = json!(match reason {
                    "ContainersNotInitialized" => format!("containers with incomplete status: [{incomplete}]"),
                    _ => format!("containers with unready status: [{not_ready}]"),
                });
            }
            c
        };
        let mut status = json!({
            "phase": phase,
            "conditions": [
                cond("PodReadyToStartContainers", true, None),
                cond("Initialized", initialized, Some("ContainersNotInitialized")),
                cond("Ready", all_ready, Some("ContainersNotReady")),
                cond("ContainersReady", all_ready, Some("ContainersNotReady")),
                cond("PodScheduled", true, None),
            ],
            "hostIP": self.node.node_ip,
            "hostIPs": [{"ip": self.node.node_ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "containerStatuses": statuses,
            "qosClass": tug_api::qos::class(&serde_json::to_value(pod).unwrap_or_default()),
        });
        if !inits.is_empty() {
            status["initContainerStatuses"] = json!(init_statuses);
        }
        if self.last_status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut patch = status.clone();
        let now = Timestamp::now().to_string();
        let old_conditions = pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        if let Some(conditions) = patch["conditions"].as_array_mut() {
            for c in conditions {
                let same = old_conditions.iter().find(|o| Some(o.type_.as_str()) == c["type"].as_str()).filter(|o| Some(o.status.as_str()) == c["status"].as_str());
                c["lastTransitionTime"] = json!(same.and_then(|o| o.last_transition_time.as_ref()).map_or(now.clone(), |t| t.0.to_string()));
                c["lastProbeTime"] = Value::Null;
            }
        }
        if pod.status.as_ref().and_then(|s| s.start_time.as_ref()).is_none() {
            patch["startTime"] = json!(now);
        }
        let pods: Api<Pod> = Api::namespaced(self.node.client.clone(), pod.metadata.namespace.as_deref().unwrap_or("default"));
        pods.patch_status(pod.metadata.name.as_deref().unwrap_or_default(), &PatchParams::default(), &Patch::Merge(json!({"status": patch})))
            .await
            .map_err(|e| Error::api(format!("update the status of pod {}", pod.metadata.name.as_deref().unwrap_or_default()), e))?;
        self.last_status = Some(status);
        Ok(())
    }

    /// One container's status from its attempts' records, and how it counts for the phase.
    fn container_status(&self, uid: &str, container: &Container, policy: &str, init: bool) -> (Value, Tally) {
        let attempts = self.attempts(uid, &container.name);
        let last = attempts.iter().rev().find(|a| a.record.is_some());
        let previous = last.and_then(|l| attempts.iter().rev().find(|a| a.number < l.number && a.record.is_some()));
        let terminated = |a: &Attempt| json!({"terminated": {
            "exitCode": a.exit_code().unwrap_or(0),
            "reason": a.field("reason").unwrap_or_else(|| "Error".into()),
            "message": termination_message(&self.node.pod_dir(uid), container, a),
            "startedAt": a.field("startedAt"),
            "finishedAt": a.field("finishedAt"),
            "containerID": format!("tug://{}", Worker::runtime_id(uid, &container.name, a.number)),
        }});
        let (state, tally) = match (self.waiting.get(&container.name), last) {
            (Some(w), _) if w.message.is_empty() => (json!({"waiting": {"reason": w.reason}}), Tally::Waiting),
            (Some(w), _) => (json!({"waiting": {"reason": w.reason, "message": w.message}}), Tally::Waiting),
            (None, Some(a)) if a.running() => (json!({"running": {"startedAt": a.field("startedAt")}}), Tally::Running),
            (None, Some(a)) => {
                let code = a.exit_code().unwrap_or(0);
                let restarts = policy == "Always" || (policy == "OnFailure" && code != 0);
                let tally = if restarts {
                    Tally::Waiting
                } else if code == 0 {
                    Tally::Succeeded
                } else {
                    Tally::Failed
                };
                (terminated(a), tally)
            }
            (None, None) => (json!({"waiting": {"reason": if init { "PodInitializing" } else { "ContainerCreating" }}}), Tally::Waiting),
        };
        let running = tally == Tally::Running;
        let probed = self.probes.get(&container.name);
        let started = running && probed.is_none_or(probes::State::started);
        // A finished init container counts as ready, as kubelet reports it.
        let ready = if init { tally == Tally::Succeeded } else { running && probed.is_none_or(probes::State::ready) };
        let status = json!({
            "name": container.name,
            "state": state,
            "lastState": previous.map(terminated).unwrap_or(json!({})),
            "ready": ready,
            "started": started,
            "restartCount": last.map_or(0, |a| a.number),
            "image": container.image,
            "imageID": self.image_ids.get(&container.name).cloned().unwrap_or_default(),
            "containerID": last.map(|a| format!("tug://{}", Worker::runtime_id(uid, &container.name, a.number))),
        });
        (status, tally)
    }

    /// Stops every container: SIGTERM, up to `grace` seconds, then SIGKILL.
    async fn terminate(&self, pod: &Pod, grace: i64) {
        let uid = uid_of(pod);
        let spec = pod.spec.clone().unwrap_or_default();
        let containers: Vec<Container> = spec.containers.iter().chain(spec.init_containers.iter().flatten()).cloned().collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(grace.max(0) as u64);
        // preStop hooks first, all at once, within the grace period.
        let pod_ip = self.pod_ip(&uid);
        let hooks = containers.iter().filter_map(|c| {
            let hook = c.lifecycle.as_ref()?.pre_stop.as_ref()?;
            let attempt = self.attempts(&uid, &c.name).into_iter().last().filter(Attempt::running)?;
            Some((c, hook, Worker::runtime_id(&uid, &c.name, attempt.number)))
        });
        let hooks: Vec<_> = hooks
            .map(|(c, hook, id)| {
                let target = actions::Target { exe: &self.node.options.sandbox_exe, runtime_root: self.node.runtime_root.clone(), id, pod_ip: pod_ip.clone(), container: c };
                async move {
                    if let Err(failure) = actions::run(&hook_action(hook), &target, Duration::from_secs(grace.max(0) as u64)).await {
                        let text = format!("PreStopHook failed: {}", failure.message());
                        crate::events::record(&self.node.client, pod, &self.node.options.node_name, "Warning", "FailedPreStopHook", &text, Some(&c.name)).await;
                    }
                }
            })
            .collect();
        futures_util::future::join_all(hooks).await;
        let running = || -> Vec<String> {
            containers
                .iter()
                .flat_map(|c| self.attempts(&uid, &c.name).into_iter().filter(Attempt::running).map(|a| Worker::runtime_id(&uid, &c.name, a.number)))
                .collect()
        };
        for id in running() {
            let _ = tug_runtime::kill::kill(&self.node.runtime_root, &id, libc::SIGTERM, true);
        }
        while !running().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for id in running() {
            let _ = tug_runtime::kill::kill(&self.node.runtime_root, &id, libc::SIGKILL, true);
        }
        for _ in 0..100 {
            if running().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn cleanup(&self, uid: &str) {
        cleanup(&self.node, uid);
    }
}

/// Removes everything a pod had on the node: rootfs mounts, volumes, cgroups, sandbox, veth, address, files.
fn cleanup(node: &Node, uid: &str) {
    let pod_dir = node.pod_dir(uid);
    if let Ok(containers) = std::fs::read_dir(pod_dir.join("containers")) {
        for container in containers.flatten() {
            for attempt in std::fs::read_dir(container.path()).into_iter().flatten().flatten() {
                crate::mounts::unmount(&attempt.path().join("rootfs"));
            }
        }
    }
    volumes::teardown(&pod_dir);
    if let Some(saved) = shim::read_record(&pod_dir.join("sandbox.json")) {
        sandbox::stop(saved.get("pid").and_then(Value::as_i64).unwrap_or(0) as i32);
    }
    node.network.detach(uid);
    node.host_ports.release(uid);
    for qos in ["", "burstable/", "besteffort/"] {
        crate::mounts::remove_cgroup(&format!("/tug/{}/{qos}pod{uid}", node.options.node_name));
    }
    let _ = std::fs::remove_dir_all(&pod_dir);
}

/// Stops and removes what is left of a pod the API no longer has (deleted while this
/// agent was down, or while it stopped): its containers are killed, then [`cleanup`].
fn remove_orphan(node: &Node, uid: &str) {
    let pod_dir = node.pod_dir(uid);
    let running = || -> Vec<String> {
        std::fs::read_dir(pod_dir.join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|c| c.file_name().into_string().ok())
            .flat_map(|c| attempts(&pod_dir, &c).into_iter().filter(Attempt::running).map(move |a| runtime_id(uid, &c, a.number)))
            .collect()
    };
    for id in running() {
        let _ = tug_runtime::kill::kill(&node.runtime_root, &id, libc::SIGKILL, true);
    }
    for _ in 0..100 {
        if running().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cleanup(node, uid);
}

/// Starts the pod's sandbox and wires it to the node's network; records both.
fn start_sandbox(node: &Node, pod: &Pod, pod_dir: &Path) -> Result<(i32, String), Error> {
    std::fs::create_dir_all(pod_dir).map_err(|e| Error::Internal(format!("create {}: {e}", pod_dir.display())))?;
    let uid = uid_of(pod);
    let name = pod.metadata.name.as_deref().unwrap_or("pod");
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false);
    let pid = sandbox::start(&node.options.sandbox_exe, name, host_network)?;
    let ip = if host_network {
        node.options.node_ip
    } else {
        let wired = node.network.allocate(&uid).and_then(|ip| node.network.attach(&uid, pid, ip).map(|()| ip));
        match wired {
            Ok(ip) => ip,
            Err(e) => {
                sandbox::stop(pid);
                node.network.detach(&uid);
                return Err(e.into());
            }
        }
    };
    let path = pod_dir.join("sandbox.json");
    let record = json!({"pid": pid, "ip": ip.to_string()});
    std::fs::write(&path, record.to_string()).map_err(|e| Error::Internal(format!("write {}: {e}", path.display())))?;
    Ok((pid, ip.to_string()))
}

/// A container's attempts in the pod directory, oldest first.
pub(crate) fn attempts(pod_dir: &Path, container: &str) -> Vec<Attempt> {
    let dir = pod_dir.join("containers").join(container);
    let mut attempts: Vec<Attempt> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let number = e.file_name().to_str()?.parse().ok()?;
                    // Liveness first, the record second: a supervisor that writes its
                    // record and ends in between is seen with its record.
                    let supervised = std::fs::read_to_string(e.path().join(SUPERVISOR_PID))
                        .ok()
                        .and_then(|pid| pid.trim().parse().ok())
                        .is_some_and(sandbox::alive);
                    Some(Attempt { number, record: shim::read_record(&e.path().join("record.json")), supervised })
                })
                .collect()
        })
        .unwrap_or_default();
    attempts.sort_by_key(|a| a.number);
    attempts
}

/// Removes an attempt no supervisor ever took over (its root filesystem may be mounted).
fn discard_attempt(pod_dir: &Path, container: &str, number: u32) {
    let dir = pod_dir.join("containers").join(container).join(number.to_string());
    crate::mounts::unmount(&dir.join("rootfs"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// tug-runtime's id of a container's attempt.
pub(crate) fn runtime_id(uid: &str, container: &str, attempt: u32) -> String {
    format!("{}-{container}-{attempt}", &uid[..uid.len().min(13)])
}

/// The FIFO a container with `stdin: true` reads its standard input from (made before
/// its supervisor starts; the supervisor hands it to the container).
pub(crate) fn stdin_fifo(pod_dir: &Path, container: &str, attempt: u32) -> PathBuf {
    pod_dir.join("containers").join(container).join(attempt.to_string()).join(shim::STDIN_FIFO)
}

/// A container's CRI log file of one attempt.
pub(crate) fn log_path(pod_dir: &Path, container: &str, attempt: u32) -> PathBuf {
    pod_dir.join("logs").join(container).join(format!("{attempt}.log"))
}

fn make_fifo(path: &Path) -> std::io::Result<()> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: c_path is a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(e);
        }
    }
    Ok(())
}

/// How long a postStart hook may run (kubelet bounds it only by the container's life).
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// The action a lifecycle hook names.
fn hook_action(hook: &k8s_openapi::api::core::v1::LifecycleHandler) -> actions::Action<'_> {
    if let Some(exec) = &hook.exec {
        actions::Action::Exec(exec)
    } else if let Some(get) = &hook.http_get {
        actions::Action::HttpGet(get)
    } else if let Some(tcp) = &hook.tcp_socket {
        actions::Action::TcpSocket(tcp)
    } else if let Some(sleep) = &hook.sleep {
        actions::Action::Sleep(sleep.seconds)
    } else {
        actions::Action::Unsupported("a lifecycle hook without a handler")
    }
}

/// The file in an attempt's directory bind-mounted at the container's terminationMessagePath.
const TERMINATION_LOG: &str = "termination-log";
/// The file in an attempt's directory that holds its supervisor's PID.
const SUPERVISOR_PID: &str = "supervisor.pid";
/// Kubelet's cap on a termination message, and on the log tail that stands in for one.
const MESSAGE_MAX: usize = 4096;
const FALLBACK_LINES: usize = 80;

/// The pod's cgroup under its QoS class's parent, as kubelet lays them out:
/// `/tug/<node>/pod<uid>` (Guaranteed), `/tug/<node>/burstable/pod<uid>`,
/// `/tug/<node>/besteffort/pod<uid>`; each container's is `<pod's>/<container name>`.
pub(crate) fn pod_cgroup(node_name: &str, pod: &Pod) -> String {
    let node = format!("/tug/{node_name}");
    let uid = uid_of(pod);
    match qos_of(pod) {
        "Guaranteed" => format!("{node}/pod{uid}"),
        "Burstable" => format!("{node}/burstable/pod{uid}"),
        _ => format!("{node}/besteffort/pod{uid}"),
    }
}

fn qos_of(pod: &Pod) -> &'static str {
    tug_api::qos::class(&serde_json::to_value(pod).unwrap_or_default())
}

/// What a finished attempt says about its end: the termination message file, or with
/// `FallbackToLogsOnError` and a failure, the end of its log; else the supervisor's message.
fn termination_message(pod_dir: &Path, container: &Container, attempt: &Attempt) -> Option<String> {
    let file = pod_dir.join("containers").join(&container.name).join(attempt.number.to_string()).join(TERMINATION_LOG);
    let mut message = std::fs::read(&file).map(|b| String::from_utf8_lossy(&b[..b.len().min(MESSAGE_MAX)]).into_owned()).unwrap_or_default();
    let fallback = container.termination_message_policy.as_deref() == Some("FallbackToLogsOnError");
    if message.is_empty() && fallback && attempt.exit_code().is_some_and(|c| c != 0) {
        let log = std::fs::read_to_string(log_path(pod_dir, &container.name, attempt.number)).unwrap_or_default();
        let text = crate::cri_log::text(&log);
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let tail = lines[lines.len().saturating_sub(FALLBACK_LINES)..].concat();
        let start = tail.len().saturating_sub(MESSAGE_MAX / 2);
        let start = (start..tail.len()).find(|i| tail.is_char_boundary(*i)).unwrap_or(tail.len());
        message = tail[start..].to_string();
    }
    if message.is_empty() {
        attempt.field("message")
    } else {
        Some(message)
    }
}

/// How a container counts towards the pod's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tally {
    Running,
    Succeeded,
    Failed,
    Waiting,
}

/// What starting a container of a pod needs besides the pod.
struct Launch<'a> {
    sandbox_pid: i32,
    pod_ip: &'a str,
    pod_dir: &'a Path,
    sources: &'a Sources,
}

/// Init containers are restarted when they fail, unless the pod never restarts.
fn init_policy(pod_policy: &str) -> &'static str {
    if pod_policy == "Never" {
        "Never"
    } else {
        "OnFailure"
    }
}

/// Kubelet's back-off before restart number `restarts + 1`.
fn backoff(restarts: u32) -> Duration {
    BACKOFF_START.saturating_mul(1u32 << restarts.min(5)).min(BACKOFF_MAX)
}
