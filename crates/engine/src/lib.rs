//! The single-host container engine: Docker's part of Tugboat (`tug run`, `ps`, `logs`,
//! `exec`, `stop`, `start`, `kill`, `rm`, `inspect`, `top`, `stats`, `diff`, `commit`),
//! on top of the image store (`tug-image`: overlay root filesystems, layers, commit),
//! the OCI runtime (`tug-runtime`) and host networking (`tug-network`). It knows nothing
//! of Kubernetes.
//!
//! Map:
//! - [`container`]: a container's record and directory under `<data>/engine/containers/`,
//!   lookup by name or ID prefix, its status;
//! - [`options`]: what `tug run` asks for, parsed and checked (`-e`, `-v`, `-p`, limits);
//! - [`spec`]: image config + options → the OCI runtime `config.json`;
//! - [`netns`]: loopback up in a container's new network namespace;
//! - [`ports`]: `-p` publishing (listeners bound by the caller, proxied to the container);
//! - [`engine`]: the lifecycle verbs over all of the above;
//! - [`shim`], [`supervisor`], [`cri_log`]: the per-container supervisor process (stdio,
//!   CRI log, exit record) — shared with the node agent, which runs pods' containers
//!   under the same supervisor.

pub mod container;
pub mod cri_log;
pub mod engine;
pub mod netns;
pub mod options;
pub mod ports;
pub mod shim;
pub mod spec;
pub mod supervisor;

pub use container::{Record, State};
pub use engine::Engine;
pub use options::RunOptions;

/// Why an engine operation failed. Messages name the container or image, the flag at
/// fault and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid {flag} {value:?}: {reason}")]
    InvalidFlag { flag: &'static str, value: String, reason: String },
    #[error("{0}")]
    State(String),
    #[error(transparent)]
    Image(#[from] tug_image::Error),
    #[error("runtime: {0}")]
    Runtime(#[from] tug_runtime::Error),
    #[error("network: {0}")]
    Network(#[from] tug_network::Error),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// Result of engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}
