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
use crate::{sandbox, spec, volumes, Error, Options};

/// Kubelet's container restart back-off: 10 s doubling to 5 min.
const BACKOFF_START: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How often a worker looks at its pod when nothing changed.
const RESYNC: Duration = Duration::from_secs(1);

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
    while let Some(event) = events.next().await {
        let pod = match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => Some(pod),
            Ok(Event::Delete(pod)) => {
                // Gone from the API (deleted by force): stop what runs, nothing left to report to.
                if let Some(tx) = pod.metadata.uid.as_ref().and_then(|uid| workers.get(uid)) {
                    let _ = tx.send(None);
                }
                None
            }
            Ok(_) | Err(_) => None,
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

/// One attempt at running a container: its files and what its supervisor recorded.
#[derive(Debug, Clone)]
struct Attempt {
    number: u32,
    record: Option<Value>,
}

impl Attempt {
    fn exit_code(&self) -> Option<i64> {
        self.record.as_ref()?.get("exitCode")?.as_i64()
    }
    fn running(&self) -> bool {
        self.record.as_ref().is_some_and(|r| r.get("pid").is_some()) && self.exit_code().is_none()
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
    last_status: Option<Value>,
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

impl Worker {
    fn new(node: Arc<Node>, rx: watch::Receiver<Option<Pod>>) -> Worker {
        Worker { node, rx, waiting: HashMap::new(), image_ids: HashMap::new(), last_status: None }
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
        let dir = self.node.pod_dir(uid).join("containers").join(container);
        let mut attempts: Vec<Attempt> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        let number = e.file_name().to_str()?.parse().ok()?;
                        Some(Attempt { number, record: shim::read_record(&e.path().join("record.json")) })
                    })
                    .collect()
            })
            .unwrap_or_default();
        attempts.sort_by_key(|a| a.number);
        attempts
    }

    fn runtime_id(uid: &str, container: &str, attempt: u32) -> String {
        format!("{}-{container}-{attempt}", &uid[..uid.len().min(13)])
    }

    /// Brings the pod one step closer to its spec; returns when to look again.
    async fn sync(&mut self, pod: &Pod) -> Result<Duration, Error> {
        let uid = uid_of(pod);
        let spec = pod.spec.clone().unwrap_or_default();
        let pod_dir = self.node.pod_dir(&uid);
        let (sandbox_pid, pod_ip) = self.ensure_sandbox(pod, &pod_dir)?;
        let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let sources = Sources::new(self.node.client.clone(), &namespace);
        let mut wake = RESYNC;
        let policy = spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
        let mut volumes = None;
        for container in &spec.containers {
            let attempts = self.attempts(&uid, &container.name);
            let last = attempts.last();
            let start_next = match last {
                None => Some(0),
                Some(a) if a.running() => None,
                Some(a) if a.record.is_none() => None, // its supervisor is starting it
                Some(a) => {
                    let code = a.exit_code().unwrap_or(0);
                    let restart = policy == "Always" || (policy == "OnFailure" && code != 0);
                    if !restart {
                        None
                    } else {
                        let delay = backoff(a.number);
                        let finished = a.field("finishedAt").and_then(|t| t.parse::<Timestamp>().ok()).unwrap_or_else(Timestamp::now);
                        let due = finished + delay;
                        let now = Timestamp::now();
                        if now >= due {
                            Some(a.number + 1)
                        } else {
                            let left = (due.as_millisecond() - now.as_millisecond()).max(0) as u64;
                            wake = wake.min(Duration::from_millis(left));
                            self.waiting.insert(container.name.clone(), Waiting {
                                reason: "CrashLoopBackOff".into(),
                                message: format!("back-off {}s restarting failed container={} pod={}_{}({uid})", delay.as_secs(), container.name, pod.metadata.name.as_deref().unwrap_or_default(), namespace),
                            });
                            None
                        }
                    }
                }
            };
            let Some(number) = start_next else { continue };
            if volumes.is_none() {
                match volumes::prepare(pod, &pod_dir, &sources).await {
                    Ok(v) => volumes = Some(v),
                    Err(ConfigError(message)) => {
                        self.fail(pod, container, "CreateContainerConfigError", message).await;
                        continue;
                    }
                }
            }
            let prepared = volumes.as_ref().cloned().unwrap_or_default();
            match self.start(pod, container, number, sandbox_pid, &pod_ip, &prepared, &sources).await {
                Ok(()) => {
                    self.waiting.remove(&container.name);
                    wake = Duration::from_millis(50);
                }
                Err((reason, message)) => {
                    self.fail(pod, container, &reason, message).await;
                }
            }
        }
        self.report(pod, &pod_ip).await?;
        Ok(wake)
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

    /// The sandbox (started if missing) and the pod's address.
    fn ensure_sandbox(&self, pod: &Pod, pod_dir: &Path) -> Result<(i32, String), Error> {
        let path = pod_dir.join("sandbox.json");
        if let Some(saved) = shim::read_record(&path) {
            let pid = saved.get("pid").and_then(Value::as_i64).unwrap_or(0) as i32;
            if sandbox::alive(pid) {
                return Ok((pid, saved.get("ip").and_then(Value::as_str).unwrap_or_default().to_string()));
            }
        }
        std::fs::create_dir_all(pod_dir).map_err(|e| Error::Internal(format!("create {}: {e}", pod_dir.display())))?;
        let uid = uid_of(pod);
        let name = pod.metadata.name.as_deref().unwrap_or("pod");
        let pid = sandbox::start(&self.node.options.sandbox_exe, name)?;
        let wired = self.node.network.allocate(&uid).and_then(|ip| self.node.network.attach(&uid, pid, ip).map(|()| ip));
        let ip = match wired {
            Ok(ip) => ip,
            Err(e) => {
                sandbox::stop(pid);
                self.node.network.detach(&uid);
                return Err(e.into());
            }
        };
        let record = json!({"pid": pid, "ip": ip.to_string()});
        std::fs::write(&path, record.to_string()).map_err(|e| Error::Internal(format!("write {}: {e}", path.display())))?;
        Ok((pid, ip.to_string()))
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
            cgroup: self.cgroup(&uid, &container.name),
        });
        std::fs::write(dir.join("config.json"), config.to_string()).map_err(|e| fail("write config.json", &e))?;
        let log_dir = self.log_dir(pod).join(&container.name);
        std::fs::create_dir_all(&log_dir).map_err(|e| fail("create the log directory", &e))?;
        let paths = shim::Paths {
            root: self.node.runtime_root.clone(),
            id: Worker::runtime_id(&uid, &container.name, number),
            bundle: dir.clone(),
            log: log_dir.join(format!("{number}.log")),
            record: dir.join("record.json"),
        };
        crate::supervisor::spawn(&self.node.options.sandbox_exe, &paths).map_err(|e| fail("start the container's supervisor", &e))?;
        Ok(())
    }

    /// The container's cgroup: one per pod under one per node.
    fn cgroup(&self, uid: &str, container: &str) -> String {
        format!("/tug/{}/pod{uid}/{container}", self.node.options.node_name)
    }

    /// `<data-dir>/pods/<uid>/logs` (kubelet's `/var/log/pods/<ns>_<name>_<uid>` role).
    fn log_dir(&self, pod: &Pod) -> PathBuf {
        self.node.pod_dir(&uid_of(pod)).join("logs")
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
        let mut statuses = Vec::new();
        let (mut running, mut succeeded, mut failed, mut waiting) = (0, 0, 0, 0);
        for container in &spec.containers {
            let attempts = self.attempts(&uid, &container.name);
            let last = attempts.iter().rev().find(|a| a.record.is_some());
            let previous = last.and_then(|l| attempts.iter().rev().find(|a| a.number < l.number && a.record.is_some()));
            let terminated = |a: &Attempt| json!({"terminated": {
                "exitCode": a.exit_code().unwrap_or(0),
                "reason": a.field("reason").unwrap_or_else(|| "Error".into()),
                "message": a.field("message"),
                "startedAt": a.field("startedAt"),
                "finishedAt": a.field("finishedAt"),
                "containerID": format!("tug://{}", Worker::runtime_id(&uid, &container.name, a.number)),
            }});
            let state = match (self.waiting.get(&container.name), last) {
                (Some(w), _) => {
                    waiting += 1;
                    json!({"waiting": {"reason": w.reason, "message": w.message}})
                }
                (None, Some(a)) if a.running() => {
                    running += 1;
                    json!({"running": {"startedAt": a.field("startedAt")}})
                }
                (None, Some(a)) => {
                    let code = a.exit_code().unwrap_or(0);
                    let restarts = policy == "Always" || (policy == "OnFailure" && code != 0);
                    if restarts {
                        waiting += 1;
                    } else if code == 0 {
                        succeeded += 1;
                    } else {
                        failed += 1;
                    }
                    terminated(a)
                }
                (None, None) => {
                    waiting += 1;
                    json!({"waiting": {"reason": "ContainerCreating"}})
                }
            };
            let image_id = self.image_ids.get(&container.name).cloned().unwrap_or_default();
            let ready = state.get("running").is_some();
            statuses.push(json!({
                "name": container.name,
                "state": state,
                "lastState": previous.map(terminated).unwrap_or(json!({})),
                "ready": ready,
                "started": ready,
                "restartCount": last.map_or(0, |a| a.number),
                "image": container.image,
                "imageID": image_id,
                "containerID": last.map(|a| format!("tug://{}", Worker::runtime_id(&uid, &container.name, a.number))),
            }));
        }
        let total = spec.containers.len();
        let phase = if succeeded == total {
            "Succeeded"
        } else if failed > 0 && running == 0 && waiting == 0 {
            "Failed"
        } else if running > 0 || (succeeded + failed > 0 && waiting < total) {
            "Running"
        } else {
            "Pending"
        };
        let all_ready = total > 0 && statuses.iter().all(|s| s["ready"] == json!(true));
        let not_ready: Vec<&str> = statuses.iter().filter(|s| s["ready"] != json!(true)).filter_map(|s| s["name"].as_str()).collect();
        let cond = |type_: &str, ok: bool, reason: Option<&str>| {
            let mut c = json!({"type": type_, "status": if ok { "True" } else { "False" }});
            if let (false, Some(reason)) = (ok, reason) {
                c["reason"] = json!(reason);
                c["message"] = json!(format!("containers with unready status: [{}]", not_ready.join(" ")));
            }
            c
        };
        let status = json!({
            "phase": phase,
            "conditions": [
                cond("PodReadyToStartContainers", true, None),
                cond("Initialized", true, None),
                cond("Ready", all_ready, Some("ContainersNotReady")),
                cond("ContainersReady", all_ready, Some("ContainersNotReady")),
                cond("PodScheduled", true, None),
            ],
            "hostIP": self.node.node_ip,
            "hostIPs": [{"ip": self.node.node_ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "containerStatuses": statuses,
        });
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

    /// Stops every container: SIGTERM, up to `grace` seconds, then SIGKILL.
    async fn terminate(&self, pod: &Pod, grace: i64) {
        let uid = uid_of(pod);
        let containers = pod.spec.as_ref().map(|s| s.containers.clone()).unwrap_or_default();
        let running = || -> Vec<String> {
            containers
                .iter()
                .flat_map(|c| self.attempts(&uid, &c.name).into_iter().filter(Attempt::running).map(|a| Worker::runtime_id(&uid, &c.name, a.number)))
                .collect()
        };
        for id in running() {
            let _ = tug_runtime::kill::kill(&self.node.runtime_root, &id, libc::SIGTERM, true);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(grace.max(0) as u64);
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

    /// Removes everything the pod had on the node: rootfs mounts, volumes, cgroups, sandbox, veth, address, files.
    fn cleanup(&self, uid: &str) {
        let pod_dir = self.node.pod_dir(uid);
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
        self.node.network.detach(uid);
        crate::mounts::remove_cgroup(&format!("/tug/{}/pod{uid}", self.node.options.node_name));
        let _ = std::fs::remove_dir_all(&pod_dir);
    }
}

/// Kubelet's back-off before restart number `restarts + 1`.
fn backoff(restarts: u32) -> Duration {
    BACKOFF_START.saturating_mul(1u32 << restarts.min(5)).min(BACKOFF_MAX)
}
