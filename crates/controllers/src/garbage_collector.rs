//! The garbage collector: cascading deletion through `ownerReferences`, as
//! kube-controller-manager's. It keeps a graph of every object's owners (one watch per
//! stored kind) and works a queue of objects to look at:
//!
//! - an object whose owners are all gone is deleted (background cascading); owners that
//!   are gone are dropped from an object that still has others;
//! - an owner deleted with `propagationPolicy: Foreground` (the `foregroundDeletion`
//!   finalizer) has its dependents deleted, foreground too, and loses the finalizer once no
//!   dependent with `blockOwnerDeletion` is left;
//! - an owner deleted with `propagationPolicy: Orphan` (the `orphan` finalizer) has its
//!   reference removed from every dependent, then loses the finalizer.
//!
//! An owner missing from the graph is looked up live before anything is deleted, so a
//! watch that is behind never costs an object.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";
/// A failed step is tried again after this long.
const RETRY: Duration = Duration::from_secs(1);

/// One object as the graph knows it.
#[derive(Debug, Clone)]
struct Node {
    resource: usize,
    namespace: Option<String>,
    name: String,
    owners: Vec<OwnerReference>,
    finalizers: Vec<String>,
    deleting: bool,
}

#[derive(Default)]
struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    fn insert(&mut self, uid: String, node: Node) {
        self.remove(&uid);
        for owner in &node.owners {
            self.dependents.entry(owner.uid.clone()).or_default().insert(uid.clone());
        }
        self.nodes.insert(uid, node);
    }

    fn remove(&mut self, uid: &str) -> Option<Node> {
        let node = self.nodes.remove(uid)?;
        for owner in &node.owners {
            if let Some(set) = self.dependents.get_mut(&owner.uid) {
                set.remove(uid);
                if set.is_empty() {
                    self.dependents.remove(&owner.uid);
                }
            }
        }
        Some(node)
    }

    fn dependents_of(&self, uid: &str) -> Vec<(String, Node)> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| Some((d.clone(), self.nodes.get(d)?.clone())))
            .collect()
    }
}

struct Collector {
    client: Client,
    resources: Vec<ApiResource>,
    graph: Mutex<Graph>,
    queue: mpsc::UnboundedSender<String>,
}

/// Runs the collector until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let kinds: Vec<_> = crate::kinds::stored().collect();
    let resources: Vec<ApiResource> = kinds.iter().map(|rt| crate::kinds::api_resource(rt)).collect();
    let (queue, mut work) = mpsc::unbounded_channel();
    let gc = Arc::new(Collector {
        client: client.clone(),
        resources: resources.clone(),
        graph: Mutex::default(),
        queue,
    });
    let watches = stream::select_all(resources.iter().enumerate().map(|(i, ar)| {
        watcher::watcher(Api::<DynamicObject>::all_with(client.clone(), ar), watcher::Config::default())
            .default_backoff()
            .map(move |e| (i, e))
            .boxed()
    }));
    let kinds_count = resources.len();
    let (synced_tx, synced_rx) = tokio::sync::watch::channel(false);
    let observer = {
        let gc = gc.clone();
        async move {
            let mut listed = HashSet::new();
            let mut watches = watches;
            while let Some((i, event)) = watches.next().await {
                match event {
                    Ok(Event::InitDone) => {
                        listed.insert(i);
                        if listed.len() == kinds_count {
                            let _ = synced_tx.send(true);
                        }
                    }
                    Ok(event) => gc.observe(i, event),
                    Err(_) => {}
                }
            }
        }
    };
    let worker = {
        let gc = gc.clone();
        async move {
            let mut synced = synced_rx;
            // Judge nothing until every kind is listed: an owner not yet seen is not gone.
            let _ = synced.wait_for(|s| *s).await;
            let mut queued = HashSet::new();
            while let Some(uid) = work.recv().await {
                queued.insert(uid);
                while let Ok(more) = work.try_recv() {
                    queued.insert(more);
                }
                for uid in std::mem::take(&mut queued) {
                    if gc.process(&uid).await.is_err() {
                        let retry = gc.queue.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(RETRY).await;
                            let _ = retry.send(uid);
                        });
                    }
                }
            }
        }
    };
    tokio::join!(observer, worker);
    Err(crate::Error::Stopped {
        controller: "garbagecollector",
        message: "its watches ended".into(),
    })
}

impl Collector {
    /// Updates the graph with a watch event and queues what it may concern.
    fn observe(&self, resource: usize, event: Event<DynamicObject>) {
        let Ok(mut graph) = self.graph.lock() else {
            return;
        };
        let mut wake = Vec::new();
        match event {
            Event::Init => {}
            Event::InitApply(obj) | Event::Apply(obj) => {
                let Some(uid) = obj.uid() else { return };
                let node = Node {
                    resource,
                    namespace: obj.namespace(),
                    name: obj.name_any(),
                    owners: obj.owner_references().to_vec(),
                    finalizers: obj.finalizers().to_vec(),
                    deleting: obj.metadata.deletion_timestamp.is_some(),
                };
                let gc_finalizer = node.deleting && node.finalizers.iter().any(|f| f == ORPHAN || f == FOREGROUND);
                if !node.owners.is_empty() || gc_finalizer {
                    wake.push(uid.clone());
                }
                // A dependent going away may unblock an owner deleted in the foreground.
                if node.deleting {
                    wake.extend(node.owners.iter().map(|o| o.uid.clone()));
                }
                graph.insert(uid, node);
            }
            Event::Delete(obj) => {
                let Some(uid) = obj.uid() else { return };
                if let Some(node) = graph.remove(&uid) {
                    wake.extend(node.owners.iter().map(|o| o.uid.clone()));
                }
                wake.extend(graph.dependents_of(&uid).into_iter().map(|(d, _)| d));
            }
            Event::InitDone => {}
        }
        drop(graph);
        for uid in wake {
            let _ = self.queue.send(uid);
        }
    }

    fn node(&self, uid: &str) -> Option<Node> {
        self.graph.lock().ok()?.nodes.get(uid).cloned()
    }

    fn api(&self, node: &Node) -> Api<DynamicObject> {
        let ar = &self.resources[node.resource];
        match &node.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        }
    }

    async fn process(&self, uid: &str) -> Result<(), kube::Error> {
        let Some(node) = self.node(uid) else {
            return Ok(());
        };
        if node.deleting && node.finalizers.iter().any(|f| f == ORPHAN) {
            return self.orphan_dependents(uid, &node).await;
        }
        if node.deleting && node.finalizers.iter().any(|f| f == FOREGROUND) {
            return self.delete_dependents(uid, &node).await;
        }
        if node.owners.is_empty() {
            return Ok(());
        }
        let mut gone = Vec::new();
        let mut foreground_owner = false;
        for owner in &node.owners {
            match self.owner_state(owner, node.namespace.as_deref()).await? {
                OwnerState::Gone => gone.push(owner.uid.clone()),
                OwnerState::Foreground => foreground_owner |= owner.block_owner_deletion == Some(true),
                OwnerState::Present | OwnerState::Unknown => {}
            }
        }
        let api = self.api(&node);
        if gone.len() == node.owners.len() {
            let params = if foreground_owner { DeleteParams::foreground() } else { DeleteParams::background() };
            return ignore_missing(api.delete(&node.name, &params).await.map(|_| ()));
        }
        if foreground_owner && !node.deleting {
            return ignore_missing(api.delete(&node.name, &DeleteParams::foreground()).await.map(|_| ()));
        }
        if !gone.is_empty() {
            let kept: Vec<&OwnerReference> = node.owners.iter().filter(|o| !gone.contains(&o.uid)).collect();
            let patch = json!({"metadata": {"ownerReferences": kept, "uid": uid}});
            return ignore_missing(api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ()));
        }
        Ok(())
    }

    /// Whether an owner exists, from the graph or, if it is not there, from the API.
    async fn owner_state(&self, owner: &OwnerReference, namespace: Option<&str>) -> Result<OwnerState, kube::Error> {
        if let Some(node) = self.node(&owner.uid) {
            return Ok(if node.deleting && node.finalizers.iter().any(|f| f == FOREGROUND) {
                OwnerState::Foreground
            } else {
                OwnerState::Present
            });
        }
        let Some(rt) = crate::kinds::by_kind(&owner.api_version, &owner.kind) else {
            return Ok(OwnerState::Unknown);
        };
        let ar = crate::kinds::api_resource(rt);
        let api: Api<DynamicObject> = match (rt.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &ar),
            (true, None) => return Ok(OwnerState::Gone),
            (false, _) => Api::all_with(self.client.clone(), &ar),
        };
        Ok(match api.get_opt(&owner.name).await? {
            Some(live) if live.uid().as_deref() == Some(owner.uid.as_str()) => OwnerState::Present,
            _ => OwnerState::Gone,
        })
    }

    /// Orphan: removes `uid` from every dependent's owners, then the `orphan` finalizer.
    async fn orphan_dependents(&self, uid: &str, node: &Node) -> Result<(), kube::Error> {
        let dependents = self.graph.lock().map(|g| g.dependents_of(uid)).unwrap_or_default();
        for (dependent_uid, dependent) in dependents {
            let kept: Vec<&OwnerReference> = dependent.owners.iter().filter(|o| o.uid != uid).collect();
            let patch = json!({"metadata": {"ownerReferences": kept, "uid": dependent_uid}});
            ignore_missing(self.api(&dependent).patch(&dependent.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ()))?;
        }
        self.remove_finalizer(uid, node, ORPHAN).await
    }

    /// Foreground: deletes the dependents; once none that blocks is left, the finalizer goes.
    async fn delete_dependents(&self, uid: &str, node: &Node) -> Result<(), kube::Error> {
        let dependents = self.graph.lock().map(|g| g.dependents_of(uid)).unwrap_or_default();
        let mut blocking = false;
        for (_, dependent) in &dependents {
            let blocks = dependent.owners.iter().any(|o| o.uid == uid && o.block_owner_deletion == Some(true));
            blocking |= blocks;
            if !dependent.deleting {
                ignore_missing(self.api(dependent).delete(&dependent.name, &DeleteParams::foreground()).await.map(|_| ()))?;
            }
        }
        if blocking {
            // Woken again as each dependent goes.
            return Ok(());
        }
        self.remove_finalizer(uid, node, FOREGROUND).await
    }

    async fn remove_finalizer(&self, uid: &str, node: &Node, finalizer: &str) -> Result<(), kube::Error> {
        let api = self.api(node);
        let Some(live) = api.get_opt(&node.name).await? else {
            return Ok(());
        };
        if live.uid().as_deref() != Some(uid) {
            return Ok(());
        }
        let kept: Vec<&String> = live.finalizers().iter().filter(|f| *f != finalizer).collect();
        let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": live.resource_version()}});
        ignore_missing(api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ()))
    }
}

enum OwnerState {
    Present,
    /// Being deleted in the foreground: its blocking dependents go first.
    Foreground,
    Gone,
    /// A kind the collector does not know: never judged gone.
    Unknown,
}

fn ignore_missing(result: Result<(), kube::Error>) -> Result<(), kube::Error> {
    match result {
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        other => other,
    }
}
