//! The scheduling loop: watches pods, nodes, namespaces and volume claims into the
//! cache, takes pending pods in order, decides, and binds. Bindings run
//! concurrently (a pod is assumed on its node at once, so the next decision
//! counts it); a failed binding forgets the assumption and tries again. Pods
//! that fit nowhere get a `FailedScheduling` event and a `PodScheduled=False`
//! condition, and are retried with back-off when the cluster changes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::algorithm;
use crate::cache::{self, Cache};

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Pods whose `spec.schedulerName` is this one (or empty) are ours.
    pub scheduler_name: String,
    /// How many bindings may be in flight at once.
    pub parallel_binds: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { scheduler_name: "default-scheduler".into(), parallel_binds: 32 }
    }
}

/// What ends the loop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the {0} watch ended")]
    WatchEnded(&'static str),
}

/// A change the watches report.
#[allow(clippy::large_enum_variant)] // one change at a time; boxing every event costs more than it saves
enum Change {
    Pod(Event<Pod>),
    Node(Event<Node>),
    Namespace(Event<Namespace>),
    Claim(Event<PersistentVolumeClaim>),
    Volume(Event<PersistentVolume>),
    Class(Event<StorageClass>),
}

/// The outcome of one binding.
struct Bound {
    uid: String,
    pod: Pod,
    node: String,
    result: Result<(), kube::Error>,
}

/// A pod no node could take, waiting to be tried again.
struct Waiting {
    pod: Pod,
    /// Failed attempts so far.
    attempts: u32,
    /// Not before this time.
    not_before: Instant,
    /// The cache generation at the failure: the pod is retried once the cluster changed
    /// (or after [`FLUSH_AFTER`] in any case).
    generation: u64,
    failed_at: Instant,
    /// The message last recorded on the pod, so an unchanged reason is not written again.
    message: String,
}

/// Unschedulable pods are retried at least this often, changed cluster or not.
const FLUSH_AFTER: Duration = Duration::from_secs(60);

fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1 << attempts.saturating_sub(1).min(3)).min(Duration::from_secs(10))
}

fn watch<K>(client: &Client) -> BoxStream<'static, Result<Event<K>, watcher::Error>>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher::watcher(Api::<K>::all(client.clone()), watcher::Config::default()).default_backoff().boxed()
}

/// Schedules pods until a watch ends for good.
pub async fn run(client: Client, options: Options) -> Result<(), Error> {
    let mut changes = stream::select_all(vec![
        watch::<Pod>(&client).map(|e| e.map(Change::Pod)).boxed(),
        watch::<Node>(&client).map(|e| e.map(Change::Node)).boxed(),
        watch::<Namespace>(&client).map(|e| e.map(Change::Namespace)).boxed(),
        watch::<PersistentVolumeClaim>(&client).map(|e| e.map(Change::Claim)).boxed(),
        watch::<PersistentVolume>(&client).map(|e| e.map(Change::Volume)).boxed(),
        watch::<StorageClass>(&client).map(|e| e.map(Change::Class)).boxed(),
    ]);
    let mut s = Scheduler::new(client, options);
    let (bound_tx, mut bound_rx) = mpsc::unbounded_channel::<Bound>();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let can_schedule = !s.queue.is_empty() && s.in_flight < s.options.parallel_binds;
        tokio::select! {
            biased;
            change = changes.next() => match change {
                Some(Ok(change)) => s.apply(change),
                // The watcher retries by itself with back-off; errors are transient.
                Some(Err(_)) => {}
                None => return Err(Error::WatchEnded("cluster")),
            },
            Some(bound) = bound_rx.recv() => s.finish(bound),
            _ = tick.tick() => s.retry_due(),
            _ = std::future::ready(()), if can_schedule => s.schedule_next(&bound_tx),
        }
    }
}

struct Scheduler {
    client: Client,
    options: Options,
    cache: Cache,
    /// Pending pods of ours not yet decided, by uid, in [`Scheduler::queue`] order.
    pending: HashMap<String, Pod>,
    queue: VecDeque<String>,
    waiting: HashMap<String, Waiting>,
    in_flight: usize,
    /// Bumped on every change that could let a waiting pod fit.
    generation: u64,
    turn: usize,
    /// Keys seen since a watch restarted, per kind, to drop what vanished meanwhile.
    relisting: HashMap<&'static str, HashSet<String>>,
}

fn key<K: kube::Resource>(object: &K) -> String {
    let meta = object.meta();
    format!("{}/{}", meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default())
}

impl Scheduler {
    fn new(client: Client, options: Options) -> Scheduler {
        Scheduler {
            client,
            options,
            cache: Cache::default(),
            pending: HashMap::new(),
            queue: VecDeque::new(),
            waiting: HashMap::new(),
            in_flight: 0,
            generation: 0,
            turn: 0,
            relisting: HashMap::new(),
        }
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Pod(e) => self.event("pods", e, Scheduler::pod_changed, Scheduler::pod_gone),
            Change::Node(e) => self.event("nodes", e, |s, n: Node| s.cache.upsert_node(n), |s, n: Node| s.cache.remove_node(n.metadata.name.as_deref().unwrap_or_default())),
            Change::Namespace(e) => self.event(
                "namespaces",
                e,
                |s, n: Namespace| s.cache.set_namespace(n.metadata.name.unwrap_or_default(), n.metadata.labels.unwrap_or_default()),
                |s, n: Namespace| s.cache.remove_namespace(n.metadata.name.as_deref().unwrap_or_default()),
            ),
            Change::Claim(e) => self.event("claims", e, |s, c: PersistentVolumeClaim| s.cache.upsert_claim(c), |s, c: PersistentVolumeClaim| {
                s.cache.remove_claim(c.metadata.namespace.as_deref().unwrap_or_default(), c.metadata.name.as_deref().unwrap_or_default())
            }),
            Change::Volume(e) => self.event("volumes", e, |s, v: PersistentVolume| s.cache.upsert_volume(v), |s, v: PersistentVolume| s.cache.remove_volume(v.metadata.name.as_deref().unwrap_or_default())),
            Change::Class(e) => self.event("storageclasses", e, |s, c: StorageClass| s.cache.upsert_class(c), |s, c: StorageClass| s.cache.remove_class(c.metadata.name.as_deref().unwrap_or_default())),
        }
    }

    /// Applies one watch event of a kind; after a relist, what was not listed again is gone.
    fn event<K: kube::Resource + Clone>(&mut self, kind: &'static str, event: Event<K>, changed: fn(&mut Scheduler, K), gone: fn(&mut Scheduler, K)) {
        self.generation += 1;
        match event {
            Event::Apply(object) => changed(self, object),
            Event::Delete(object) => gone(self, object),
            Event::Init => {
                self.relisting.insert(kind, HashSet::new());
            }
            Event::InitApply(object) => {
                if let Some(seen) = self.relisting.get_mut(kind) {
                    seen.insert(key(&object));
                }
                changed(self, object);
            }
            Event::InitDone => {
                let Some(seen) = self.relisting.remove(kind) else { return };
                if kind == "pods" {
                    let vanished: Vec<Pod> = self.pending.values().chain(self.waiting.values().map(|w| &w.pod)).filter(|p| !seen.contains(&key(*p))).cloned().collect();
                    for pod in vanished {
                        self.pod_gone(pod);
                    }
                }
            }
        }
    }

    fn ours(&self, pod: &Pod) -> bool {
        let name = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()).unwrap_or_default();
        name.is_empty() || name == self.options.scheduler_name
    }

    fn pod_changed(&mut self, pod: Pod) {
        let uid = cache::uid(&pod);
        let bound = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
        if bound || cache::is_terminal(&pod) || pod.metadata.deletion_timestamp.is_some() {
            self.forget_pending(&uid);
            self.cache.upsert_pod(pod);
            return;
        }
        // Assumed on a node, its binding in flight: the watch has not caught up yet.
        if self.cache.is_placed(&uid) || !self.ours(&pod) {
            return;
        }
        if let Some(w) = self.waiting.get_mut(&uid) {
            w.pod = pod;
            w.generation = w.generation.min(self.generation.saturating_sub(1));
        } else if self.pending.insert(uid.clone(), pod).is_none() {
            self.queue.push_back(uid);
        }
    }

    fn pod_gone(&mut self, pod: Pod) {
        let uid = cache::uid(&pod);
        self.forget_pending(&uid);
        self.cache.remove_pod(&uid);
    }

    fn forget_pending(&mut self, uid: &str) {
        self.pending.remove(uid);
        self.waiting.remove(uid);
    }

    /// Decides the pod at the head of the queue.
    fn schedule_next(&mut self, bound_tx: &mpsc::UnboundedSender<Bound>) {
        let Some(uid) = self.queue.pop_front() else { return };
        let Some(pod) = self.pending.remove(&uid) else { return };
        self.turn = self.turn.wrapping_add(1);
        match algorithm::schedule(&pod, &self.cache, self.turn) {
            Ok(node) => {
                self.cache.assume(&pod, &node);
                self.in_flight += 1;
                let (client, tx) = (self.client.clone(), bound_tx.clone());
                let delayed = self.delayed_claims(&pod);
                tokio::spawn(async move {
                    let result = match bind_volumes(&client, &pod, &delayed, &node).await {
                        Ok(()) => bind(&client, &pod, &node).await,
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Bound { uid, pod, node, result });
                });
            }
            Err(fit) => self.wait(uid, pod, fit.to_string()),
        }
    }

    /// The pod's claims that wait for it to be scheduled before they are bound.
    fn delayed_claims(&self, pod: &Pod) -> Vec<String> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_deref()).unwrap_or_default();
        volumes
            .iter()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .filter(|c| {
                self.cache.claim(namespace, &c.claim_name).is_some_and(|pvc| {
                    pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()).is_none_or(str::is_empty) && self.cache.binding_delayed(pvc)
                })
            })
            .map(|c| c.claim_name.clone())
            .collect()
    }

    /// Parks a pod that fits nowhere, recording why on it when the reason is new.
    fn wait(&mut self, uid: String, pod: Pod, message: String) {
        let attempts = self.waiting.get(&uid).map_or(0, |w| w.attempts) + 1;
        let previous = self.waiting.get(&uid).map(|w| w.message.clone());
        if previous.as_deref() != Some(message.as_str()) {
            let (client, pod, message) = (self.client.clone(), pod.clone(), message.clone());
            tokio::spawn(async move { record_unschedulable(&client, &pod, &message).await });
        }
        let now = Instant::now();
        self.waiting.insert(uid, Waiting { pod, attempts, not_before: now + backoff(attempts), generation: self.generation, failed_at: now, message });
    }

    fn finish(&mut self, bound: Bound) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let Err(error) = bound.result else { return };
        self.cache.remove_pod(&bound.uid);
        match &error {
            // Bound by someone else, or deleted: nothing left to do.
            kube::Error::Api(s) if s.code == 404 || (s.code == 409 && s.message.contains("already assigned")) => {}
            _ => {
                let message = format!("Binding rejected: {error} (node {})", bound.node);
                self.wait(bound.uid, bound.pod, message);
            }
        }
    }

    /// Moves waiting pods whose back-off is over, and whose cluster changed, back to the queue.
    fn retry_due(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, w)| now >= w.not_before && (self.generation > w.generation || now >= w.failed_at + FLUSH_AFTER))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in due {
            if let Some(w) = self.waiting.get(&uid) {
                self.pending.insert(uid.clone(), w.pod.clone());
                self.queue.push_back(uid);
            }
        }
    }
}

/// How long a pod waits for its WaitForFirstConsumer claims to be bound (kube-scheduler's
/// `bindTimeoutSeconds` is longer; provisioning here is a mkdir away).
const VOLUME_BIND_TIMEOUT: Duration = Duration::from_secs(120);

/// kube-scheduler's VolumeBinding PreBind: selects `node` on each delayed claim, then
/// waits until the PV controller has bound them all.
async fn bind_volumes(client: &Client, pod: &Pod, claims: &[String], node: &str) -> Result<(), kube::Error> {
    if claims.is_empty() {
        return Ok(());
    }
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"metadata": {"annotations": {tug_api::storage::SELECTED_NODE_ANNOTATION: node}}});
    for claim in claims {
        api.patch(claim, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    let deadline = Instant::now() + VOLUME_BIND_TIMEOUT;
    for claim in claims {
        loop {
            let bound = api.get(claim).await?.status.and_then(|s| s.phase).as_deref() == Some("Bound");
            if bound {
                break;
            }
            if Instant::now() >= deadline {
                return Err(kube::Error::Service(format!("binding volumes: timed out waiting for persistentvolumeclaim \"{claim}\" to be bound").into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Writes the decision through the pod's binding subresource, then the `Scheduled` event.
async fn bind(client: &Client, pod: &Pod, node: &str) -> Result<(), kube::Error> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "namespace": namespace, "uid": pod.metadata.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let body = serde_json::to_vec(&binding).map_err(kube::Error::SerdeError)?;
    let request = http_post(&format!("/api/v1/namespaces/{namespace}/pods/{name}/binding"), body)?;
    client.request::<serde_json::Value>(request).await?;
    record_event(client, pod, "Normal", "Scheduled", &format!("Successfully assigned {namespace}/{name} to {node}")).await;
    Ok(())
}

fn http_post(path: &str, body: Vec<u8>) -> Result<http::Request<Vec<u8>>, kube::Error> {
    http::Request::post(path).header("content-type", "application/json").body(body).map_err(kube::Error::HttpError)
}

/// The `FailedScheduling` event and the `PodScheduled=False` condition, as kube-scheduler writes them.
async fn record_unschedulable(client: &Client, pod: &Pod, message: &str) {
    record_event(client, pod, "Warning", "FailedScheduling", message).await;
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": message, "lastProbeTime": null, "lastTransitionTime": Timestamp::now().to_string(),
    }]}});
    // The pod may be gone meanwhile; the next attempt records again.
    let _ = pods.patch_status(name, &PatchParams::default(), &Patch::Strategic(patch)).await;
}

/// Creates a core/v1 Event about a pod from the default scheduler.
async fn record_event(client: &Client, pod: &Pod, type_: &str, reason: &str, message: &str) {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let now = Timestamp::now();
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{:x}", now.as_nanosecond()), "namespace": namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name, "uid": pod.metadata.uid},
        "reason": reason, "message": message, "type": type_,
        "source": {"component": "default-scheduler"},
        "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler",
        "firstTimestamp": now.to_string(), "lastTimestamp": now.to_string(), "count": 1,
    });
    let Ok(event) = serde_json::from_value::<k8s_openapi::api::core::v1::Event>(event) else { return };
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), namespace);
    // Events are best effort, as in Kubernetes.
    let _ = events.create(&PostParams::default(), &event).await;
}
