//! The scheduler: binds pending pods to nodes, as kube-scheduler does.
//!
//! This room owns the placement decision — the filters ([`filters`]: readiness
//! and cordons, taints and tolerations, node selectors and affinity, host ports,
//! resource fit, volume node affinity, topology spread, pod affinity and
//! anti-affinity), the scores ([`scores`]) and the choice ([`algorithm`]) — over
//! its own picture of the cluster ([`cache`]), and the loop ([`run`]) that keeps
//! that picture current from watches and writes each decision through the pod's
//! `binding` subresource, with `FailedScheduling` events when no node fits.
//!
//! It talks to the control plane only through the Kubernetes API (kube-rs), and
//! reads `tug-api` for quantities. A pod is always placed whole: the decision and
//! the binding are for the pod, never for single containers.

pub mod algorithm;
pub mod cache;
pub mod filters;
pub mod resources;
pub mod run;
pub mod scores;
pub mod selectors;
mod terms;
#[cfg(test)]
mod testing;

pub use algorithm::{schedule, FitError};
pub use run::{run, Options};
