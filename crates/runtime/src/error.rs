//! The runtime's error type. Messages are lowercase, carry their context, and name the
//! config field or path at fault so the user knows what to fix.

use std::path::PathBuf;

use crate::capabilities::CapabilityError;
use crate::cgroups::CgroupError;
use crate::seccomp::SeccompError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {0:?}: use 1 to 1024 letters, digits, '_', '-', '.' or '+', not starting with '.'")]
    InvalidId(String),
    #[error("container with id exists: {0}")]
    Exists(String),
    #[error("container does not exist: {0}")]
    NotFound(String),
    /// The container is in the wrong state for the operation (runc wording).
    #[error("{0}")]
    State(String),
    /// config.json is unreadable or wrong; `msg` names the field and the fix.
    #[error("invalid bundle config {path}: {msg}")]
    Spec { path: PathBuf, msg: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The container's init process failed while setting up; the message comes from it.
    #[error("container init: {0}")]
    Init(String),
    #[error("{hook} hook {path}: {msg}")]
    Hook { hook: &'static str, path: PathBuf, msg: String },
    #[error("invalid argument: {0}")]
    Usage(String),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error(transparent)]
    Capability(#[from] CapabilityError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds context to `std::io::Result`s: `fs::read(p).ctx(|| format!("read {}", p.display()))`.
pub trait IoContext<T> {
    fn ctx<F: FnOnce() -> String>(self, context: F) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, context: F) -> Result<T> {
        self.map_err(|source| Error::Io { context: context(), source })
    }
}
