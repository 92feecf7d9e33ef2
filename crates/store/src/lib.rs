//! The revisioned key-value store under the API server, with etcd's semantics.
//!
//! This crate owns the [`Store`] contract and its embedded backend,
//! [`SqliteStore`] (SQLite in WAL mode under the data dir). A backend over a
//! real etcd cluster implements the same trait, and the same test suite
//! (`tests/suite`) runs against every backend.
//!
//! What the contract promises, as etcd does:
//! - one global revision, bumped by every write; each key carries the
//!   revision that created it, the revision that last modified it, and its
//!   version (how many times it was written since it was created);
//! - reads of a single key or a key range, at the current revision or at an
//!   older one, with a limit, so that a list can be paged at a fixed
//!   revision while writes go on;
//! - create-if-absent, compare-and-swap update and delete;
//! - watches from a revision: every change after it, in revision order, none
//!   lost and none repeated, to any number of watchers;
//! - compaction: reads and watches below the compacted revision fail with
//!   [`Error::Compacted`] (the API server answers 410 Gone);
//! - leases: keys written with a lease are deleted when it expires.
//!
//! An acknowledged write is durable: the SQLite backend syncs each commit to
//! disk before answering (see [`Durability`]), grouping the writes that
//! arrive together into one commit.
//!
//! It knows nothing of Kubernetes objects: keys are strings
//! (`/registry/<group>/<resource>/<namespace>/<name>`) and values are bytes.
//! It calls no other Tugboat crate.
//!
//! # Async shape
//! Methods return boxed `Send` futures ([`BoxFuture`]) rather than using
//! `async fn` in the trait, so that `Arc<dyn Store>` works: the binary picks
//! a backend at run time (SQLite, or etcd with `--datastore-endpoint`) and
//! the API server holds it without being generic. The SQLite backend does
//! its blocking work on its own threads and never blocks the caller's
//! executor; it needs no particular async runtime. The etcd backend will
//! make HTTP calls inside the same futures.

mod error;
mod keys;
mod kv;
mod lease;
mod sqlite;
mod watch;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use error::{Error, Result};
pub use keys::KeyRange;
pub use kv::{Event, EventKind, KeyValue, LeaseId};
pub use sqlite::{Durability, SqliteOptions, SqliteStore};
pub use watch::Watch;

/// A boxed future that can cross threads: what every [`Store`] method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A read of a key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRequest {
    /// The keys to read.
    pub range: KeyRange,
    /// The most keys to return; `None` (or 0, as in etcd) for all of them.
    pub limit: Option<usize>,
    /// Read the store as it was at this revision; `None` for the current one.
    pub revision: Option<i64>,
}

impl RangeRequest {
    /// Every key in `range`, at the current revision.
    pub fn new(range: KeyRange) -> RangeRequest {
        RangeRequest {
            range,
            limit: None,
            revision: None,
        }
    }

    /// Returns at most `limit` keys.
    pub fn limit(mut self, limit: usize) -> RangeRequest {
        self.limit = Some(limit);
        self
    }

    /// Reads the store as it was at `revision`.
    pub fn at_revision(mut self, revision: i64) -> RangeRequest {
        self.revision = Some(revision);
        self
    }
}

/// The answer to a [`RangeRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeResponse {
    /// The live keys in the range, in byte order of their keys.
    pub kvs: Vec<KeyValue>,
    /// Whether the limit cut the answer short: more keys follow the last one.
    /// To read them, repeat the request from [`KeyRange::after`] the last key
    /// at [`RangeResponse::revision`].
    pub more: bool,
    /// The revision the read saw: the requested one, or the current one.
    pub revision: i64,
}

/// What a watch asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRequest {
    /// The keys to watch.
    pub range: KeyRange,
    /// Deliver every change with a revision greater than this one; `None`
    /// for changes from now on only.
    pub after_revision: Option<i64>,
}

/// A revisioned key-value store with etcd semantics.
///
/// Every write is durable when its future resolves, and is seen by every
/// read and watch that starts after that.
pub trait Store: Send + Sync {
    /// The revision of the latest write (1 for a store never written).
    fn current_revision(&self) -> BoxFuture<'_, Result<i64>>;

    /// The live value of `key`, if there is one.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<KeyValue>>>;

    /// The live keys of a range, at the current or an older revision.
    ///
    /// Fails with [`Error::Compacted`] below the compacted revision and with
    /// [`Error::FutureRevision`] above the current one.
    fn range(&self, request: RangeRequest) -> BoxFuture<'_, Result<RangeResponse>>;

    /// Creates `key`; fails with [`Error::AlreadyExists`] if it is live.
    fn create<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> BoxFuture<'a, Result<KeyValue>>;

    /// Replaces the value of `key` if its modification revision is still
    /// `expected_mod_revision`; otherwise fails with [`Error::Conflict`],
    /// carrying the current value. Fails with [`Error::NotFound`] if the key
    /// is not live. The key is attached to `lease` (or to none).
    fn update<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        expected_mod_revision: i64,
        lease: Option<LeaseId>,
    ) -> BoxFuture<'a, Result<KeyValue>>;

    /// Deletes `key` and returns the value it had; with
    /// `expected_mod_revision`, only if the key was not modified since.
    fn delete<'a>(
        &'a self,
        key: &'a str,
        expected_mod_revision: Option<i64>,
    ) -> BoxFuture<'a, Result<KeyValue>>;

    /// Starts a watch: replays the changes after
    /// [`WatchRequest::after_revision`], then delivers new ones as they
    /// commit. Fails with [`Error::Compacted`] if some of the changes asked
    /// for were compacted away.
    fn watch(&self, request: WatchRequest) -> BoxFuture<'_, Result<Watch>>;

    /// Drops the history older than `revision`: afterwards the store can be
    /// read at `revision` or later, and watched after `revision` or later.
    /// Compacting at or below the compacted revision does nothing; above the
    /// current revision it fails with [`Error::FutureRevision`].
    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<()>>;

    /// Grants a lease that expires `ttl` from now unless kept alive.
    fn grant_lease(&self, ttl: Duration) -> BoxFuture<'_, Result<LeaseId>>;

    /// Restarts a lease's time to live; returns that time.
    fn keep_alive(&self, lease: LeaseId) -> BoxFuture<'_, Result<Duration>>;

    /// Ends a lease now, deleting the keys attached to it.
    fn revoke_lease(&self, lease: LeaseId) -> BoxFuture<'_, Result<()>>;
}
