//! The store's errors. Each names the key, revision or lease it is about.

use crate::kv::{KeyValue, LeaseId};

/// A store result.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A create found the key live.
    #[error("key {key} already exists")]
    AlreadyExists { key: String },

    /// An update or delete found no live key.
    #[error("key {key} not found")]
    NotFound { key: String },

    /// A compare-and-swap found the key modified since the expected revision.
    #[error("key {key} was modified: expected revision {expected}, found {}", current.mod_revision)]
    Conflict {
        key: String,
        expected: i64,
        current: Box<KeyValue>,
    },

    /// A read or watch asked for history that compaction dropped.
    #[error(
        "revision {requested} has been compacted; the oldest readable revision is {compacted}"
    )]
    Compacted { requested: i64, compacted: i64 },

    /// A read or compaction named a revision the store has not reached.
    #[error("revision {requested} is in the future; the current revision is {current}")]
    FutureRevision { requested: i64, current: i64 },

    /// A lease that was never granted, was revoked or expired.
    #[error("lease {lease} not found")]
    LeaseNotFound { lease: LeaseId },

    /// A watcher fell so far behind that the store stopped buffering for it.
    /// Its events up to `revision` were delivered; watch again after it.
    #[error("watch fell behind after revision {revision}; watch again from there")]
    WatchLagged { revision: i64 },

    /// The store was closed while the operation was in flight.
    #[error("store is closed")]
    Closed,

    /// The data dir could not be prepared or locked.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },

    /// The backend's storage failed (SQLite, or the etcd cluster); the
    /// operation did not take effect.
    #[error("{context}: {message}")]
    Storage { context: String, message: String },
}

impl Error {
    /// Wraps a backend error with what the store was doing.
    pub(crate) fn storage<E: std::fmt::Display>(
        context: impl Into<String>,
    ) -> impl FnOnce(E) -> Error {
        let context = context.into();
        move |e| Error::Storage {
            context,
            message: e.to_string(),
        }
    }
}
