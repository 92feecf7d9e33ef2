//! Helm 3 releases: installing a chart into a cluster and managing it afterwards
//! (`install`, `upgrade`, `rollback`, `uninstall`, `test`, and the records `list`,
//! `history`, `status` and `get` read).
//!
//! The chart's client layer: `tug-chart` renders (pure, no cluster), this crate takes the
//! rendered manifests and hooks to a cluster, only through `tug-client` (kube-rs over
//! HTTPS, the same three-way strategic merge as `tug apply`), never the API server's code:
//! - [`record`]: Helm's release record and its Secret encoding (pure);
//! - [`storage`]: the records as Secrets `sh.helm.release.v1.NAME.vN`;
//! - [`kube`]: the release's objects: create, three-way update, delete, wait;
//! - [`lookup`]: templates' `lookup`, reading the cluster on a connection of its own;
//! - [`readiness`]: when an object is ready and a hook has finished (pure);
//! - [`hooks`]: running hooks by event, weight and delete policy;
//! - [`actions`]: the operations, with statuses, `--atomic` and failure cleanup;
//! - [`report`]: the text `helm status`/`list`/`history` print (pure).

pub mod actions;
pub mod hooks;
pub mod kube;
pub mod lookup;
pub mod readiness;
pub mod record;
pub mod report;
pub mod storage;

pub use actions::{InstallOptions, Releases, RollbackOptions, UpgradeOptions};
pub use record::{Record, Status};

/// What can go wrong with a release.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading, values or rendering (worded by `tug-chart`).
    #[error(transparent)]
    Chart(#[from] tug_chart::Error),
    /// Against the cluster or the release records.
    #[error("{0}")]
    Release(String),
}

/// Maps a client error to a release error naming what was being done.
pub(crate) fn cluster(what: &str) -> impl FnOnce(tug_client::Error) -> Error + '_ {
    move |e| Error::Release(format!("{what}: {e}"))
}
