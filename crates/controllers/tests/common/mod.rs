//! An in-process API server on loopback (temporary SQLite store, every admission plugin
//! on) with the controllers running against it, for the controller tests.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;

pub struct Cluster {
    pub client: Client,
    pub ca: String,
    /// The server and the controllers, ended with the cluster: left running into the
    /// runtime's shutdown, a watcher whose connections fail there retries without yielding
    /// and the test never ends.
    tasks: Vec<tokio::task::AbortHandle>,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub async fn cluster() -> Cluster {
    cluster_with(tug_controllers::NODE_MONITOR_GRACE_PERIOD).await
}

/// A cluster whose node lifecycle controller waits `grace` for missed heartbeats.
pub async fn cluster_with(grace: Duration) -> Cluster {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tug_store::SqliteStore::open(dir.path().join("db")).expect("store");
    let config = tug_apiserver::Config::new(
        dir.path(),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        Arc::new(store),
    );
    let server = tug_apiserver::start(config).await.expect("server starts");
    let kubeconfig = Kubeconfig::read_from(server.kubeconfig()).expect("kubeconfig");
    let server = tokio::spawn(server.wait()).abort_handle();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    let client = Client::try_from(config).expect("client");
    let ca = std::fs::read_to_string(dir.path().join("tls/ca.crt")).expect("ca");
    let controllers = tokio::spawn(tug_controllers::run(
        client.clone(),
        tug_controllers::Options {
            root_ca_pem: ca.clone(),
            node_monitor_grace_period: grace,
        },
    ));
    Cluster {
        client,
        ca,
        tasks: vec![controllers.abort_handle(), server],
        _dir: dir,
    }
}

/// Polls `check` until it returns Some, for up to ten seconds.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}


/// Pods with this annotation are left unready by [`simulated_kubelet`].
pub const NEVER_READY: &str = "test.tugboat.dev/never-ready";

/// A stand-in kubelet: every pod that appears is marked Running and Ready at once (the
/// controllers only look at status), except those annotated [`NEVER_READY`]. Stops with
/// the test's runtime.
pub fn simulated_kubelet(client: Client) {
    use futures_util::StreamExt;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, Patch, PatchParams};
    use kube::runtime::{watcher, WatchStreamExt};
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::all(client.clone());
        let mut stream = watcher::watcher(pods, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(Ok(pod)) = stream.next().await {
            let ready = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready"));
            let never = pod.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(NEVER_READY));
            if ready || never || pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(client.clone(), pod.metadata.namespace.as_deref().unwrap_or("default"));
            let now = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            let status = serde_json::json!({"status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
            let name = pod.metadata.name.clone().unwrap_or_default();
            let _ = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await;
        }
    });
}
