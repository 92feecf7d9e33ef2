//! The controllers: level-triggered reconcilers that talk to the API server only through
//! the API (kube-rs), as kube-controller-manager's do.
//!
//! Each controller is one module with one `reconcile` function that reads the whole current
//! state and makes the world match it, whatever event woke it; [`reconciler`] is the
//! shared loop (kube-rs' `Controller`: watch, cache, debounce, never two reconciles of one
//! object at once, requeue with back-off on error). To add a controller, write a module
//! with a `run(client, …)` built on [`reconciler::run`] and start it in [`run`].
//!
//! Controllers now: `service_accounts` (the `default` ServiceAccount and the
//! `kube-root-ca.crt` ConfigMap in every namespace), `resource_quota` (each quota's
//! `status.hard` and `status.used`, recomputed from scratch), `endpoints` and `endpointslice`
//! (the pods behind each Service, from [`service_backends`]), `replicaset`, `deployment`
//! (its arithmetic in `rollout`), `garbage_collector` (cascading deletion through
//! ownerReferences) and `namespace` (emptying deleted namespaces), `autoscaler` (the
//! HorizontalPodAutoscaler over `metrics.k8s.io` and `custom.metrics.k8s.io`; its arithmetic in `autoscale_replicas`
//! and `autoscale_behavior`). Shared by the workload
//! controllers: `owned_pods` (controller refs, pod readiness, selectors, Events),
//! `workload` (availability, adoption, deletion order) and `kinds` (the registry's types
//! for kube-rs). `application` runs OAM Applications rendered by `tug-oam`. It may call
//! `tug-api` (quota usage, the registry), `tug-oam` (rendering) and the API through kube-rs;
//! never the store.

pub mod deployment;
pub mod endpoints;
pub mod endpointslice;
pub mod garbage_collector;
pub mod kinds;
pub mod namespace;
pub mod reconciler;
pub mod replicaset;
pub mod resource_quota;
pub mod rollout;
pub mod service_accounts;
pub mod service_backends;
pub mod workload;
// Stateful and batch workloads, storage and node lifecycle.
pub mod cronjob;
pub mod daemonset;
pub mod job;
pub mod node_lifecycle;
pub mod node_match;
pub mod owned_pods;
pub mod revisions;
pub mod statefulset;
pub mod volume_binding;
// Autoscaling: the HorizontalPodAutoscaler and its arithmetic.
pub mod autoscale_behavior;
pub mod autoscale_replicas;
pub mod autoscaler;
// OAM: Applications rendered by tug-oam.
pub mod application;

use kube::Client;

/// What the controllers need besides an API client.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster CA certificate (PEM) that `kube-root-ca.crt` ConfigMaps carry.
    pub root_ca_pem: String,
    /// How long a node's Lease may go unrenewed before the node is Unknown and tainted
    /// unreachable (kube-controller-manager's `--node-monitor-grace-period`).
    pub node_monitor_grace_period: std::time::Duration,
}

/// The default of [`Options::node_monitor_grace_period`].
pub const NODE_MONITOR_GRACE_PERIOD: std::time::Duration = std::time::Duration::from_secs(40);

/// A controller that stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the {controller} controller stopped: {message}")]
    Stopped {
        controller: &'static str,
        message: String,
    },
}

/// Runs every controller until one stops.
pub async fn run(client: Client, options: Options) -> Result<(), Error> {
    tokio::try_join!(
        service_accounts::run(client.clone(), options.root_ca_pem),
        resource_quota::run(client.clone()),
        endpoints::run(client.clone()),
        endpointslice::run(client.clone()),
        replicaset::run(client.clone()),
        deployment::run(client.clone()),
        garbage_collector::run(client.clone()),
        namespace::run(client.clone()),
        statefulset::run(client.clone()),
        job::run(client.clone()),
        daemonset::run(client.clone()),
        cronjob::run(client.clone()),
        node_lifecycle::run(client.clone(), options.node_monitor_grace_period),
        volume_binding::run(client.clone()),
        autoscaler::run(client.clone()),
        application::run(client.clone()),
    )?;
    Ok(())
}
