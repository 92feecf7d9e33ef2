//! The embedded backend: the store in one SQLite database (WAL mode) under
//! the data dir.
//!
//! Threads: one writer owns the writing connection (see `write`), a few
//! readers own reading connections (see `read`), and one thread revokes
//! leases as they expire. Callers only queue jobs and await the answers.
//!
//! Durability: with [`Durability::PowerLoss`] (the default) each commit is
//! synced to disk before it is acknowledged (`synchronous = FULL`), as etcd
//! syncs its log: an acknowledged write survives `kill -9` and a power cut.
//! [`Durability::ProcessCrash`] (`synchronous = NORMAL`) acknowledges once
//! the commit is in the WAL file, in the kernel's page cache: it survives
//! `kill -9` of the process (the kernel still writes the page out) but not a
//! power cut or kernel crash, and commits several times faster.

mod read;
mod schema;
mod write;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::kv::{KeyValue, LeaseId};
use crate::lease::Leases;
use crate::watch::{Hub, Watch};
use crate::{BoxFuture, RangeRequest, RangeResponse, Store, WatchRequest};
use read::Readers;
use write::{Op, Reply, Writer};

/// How durable an acknowledged write is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Synced to disk: survives a power cut.
    #[default]
    PowerLoss,
    /// Written to the operating system: survives the process being killed.
    ProcessCrash,
}

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// Reader threads (and connections).
    pub readers: usize,
    /// How many changes a watcher may leave unread before it is cut off
    /// with [`Error::WatchLagged`].
    pub watch_buffer: usize,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            durability: Durability::default(),
            readers: 2,
            watch_buffer: 10_000,
        }
    }
}

/// The store in a SQLite database under a data dir.
pub struct SqliteStore {
    writes: Sender<Op>,
    readers: Readers,
    hub: Arc<Hub>,
    leases: Arc<Leases>,
    /// Joined on drop, after the senders above are gone.
    _threads: Threads,
    /// Held (locked) while the store is open.
    _lock: File,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("revision", &self.hub.revision())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if need be) the store in `dir`, with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<SqliteStore> {
        SqliteStore::open_with(dir, SqliteOptions::default())
    }

    /// Opens (creating if need be) the store in `dir`. Only one process at
    /// a time may have a data dir's store open.
    pub fn open_with(dir: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore> {
        let dir = dir.as_ref();
        let io = |what: &str| {
            let context = format!("failed to {what} {}", dir.display());
            move |source| Error::Io { context, source }
        };
        std::fs::create_dir_all(dir).map_err(io("create the store directory"))?;
        let lock = File::create(dir.join("store.lock")).map_err(io("create the lock file in"))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => Error::Io {
                context: format!("failed to open the store in {}", dir.display()),
                source: std::io::Error::other("another process has it open"),
            },
            std::fs::TryLockError::Error(source) => io("lock the store in")(source),
        })?;
        let path: PathBuf = dir.join("store.db");
        let conn = schema::open_writer(&path, options.durability)?;
        let revision = schema::current_revision(&conn).map_err(Error::storage(format!(
            "failed to read the revision of {}",
            path.display()
        )))?;
        let hub = Arc::new(Hub::new(revision, options.watch_buffer));
        let leases = Arc::new(Leases::default());
        let writer = Writer::new(conn, hub.clone(), leases.clone())?;
        let (readers, mut handles) = Readers::start(&path, options.readers)?;
        let (writes, queue) = mpsc::channel();
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(body)
                .map_err(|source| Error::Io {
                    context: format!("failed to start thread {name}"),
                    source,
                })
        };
        handles.push(spawn("store-write", Box::new(move || writer.run(queue)))?);
        let expiry = {
            let leases = leases.clone();
            let writes = writes.clone();
            move || {
                while let Some(lease) = leases.next_expired() {
                    let (reply, answer) = oneshot::channel();
                    if writes.send(Op::Revoke { lease, reply }).is_err() {
                        return;
                    }
                    // Not found means it was revoked meanwhile: nothing to do.
                    let _ = answer.blocking_recv();
                }
            }
        };
        handles.push(spawn("store-lease-expiry", Box::new(expiry))?);
        Ok(SqliteStore {
            writes,
            readers,
            hub,
            leases,
            _threads: Threads(handles),
            _lock: lock,
        })
    }

    /// Queues a write and waits for its answer. The write is queued when the
    /// future is first polled; once queued, it happens even if the future is
    /// dropped (as a request sent to etcd does).
    fn write<'a, T: Send + 'static>(
        &'a self,
        op: impl FnOnce(Reply<T>) -> Op + Send + 'a,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.writes.send(op(reply)).map_err(|_| Error::Closed)?;
            answer.await.map_err(|_| Error::Closed)?
        })
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Ends the expiry thread; the writer and readers end when their
        // senders drop, and `_threads` joins them all.
        self.leases.close();
    }
}

struct Threads(Vec<JoinHandle<()>>);

impl Drop for Threads {
    fn drop(&mut self) {
        for thread in self.0.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Store for SqliteStore {
    fn current_revision(&self) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move { Ok(self.hub.revision()) })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<KeyValue>>> {
        Box::pin(async move {
            let key = key.to_owned();
            self.readers.run(move |conn| read::get(conn, &key)).await
        })
    }

    fn range(&self, request: RangeRequest) -> BoxFuture<'_, Result<RangeResponse>> {
        Box::pin(async move {
            self.readers
                .run(move |conn| read::range(conn, &request))
                .await
        })
    }

    fn create<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> BoxFuture<'a, Result<KeyValue>> {
        self.write(move |reply| Op::Create {
            key: key.into(),
            value,
            lease,
            reply,
        })
    }

    fn update<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        expected_mod_revision: i64,
        lease: Option<LeaseId>,
    ) -> BoxFuture<'a, Result<KeyValue>> {
        self.write(move |reply| Op::Update {
            key: key.into(),
            value,
            expected: expected_mod_revision,
            lease,
            reply,
        })
    }

    fn delete<'a>(
        &'a self,
        key: &'a str,
        expected_mod_revision: Option<i64>,
    ) -> BoxFuture<'a, Result<KeyValue>> {
        self.write(move |reply| Op::Delete {
            key: key.into(),
            expected: expected_mod_revision,
            reply,
        })
    }

    fn watch(&self, request: WatchRequest) -> BoxFuture<'_, Result<Watch>> {
        Box::pin(async move {
            let (through, live) = self.hub.subscribe(request.range.clone());
            let after = request.after_revision.unwrap_or(through);
            let replay = if after < through {
                let range = request.range;
                self.readers
                    .run(move |conn| read::changes(conn, &range, after, through))
                    .await?
            } else {
                Vec::new()
            };
            Ok(Watch::new(replay, live, through.max(after)))
        })
    }

    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<()>> {
        self.write(move |reply| Op::Compact { revision, reply })
    }

    fn grant_lease(&self, ttl: Duration) -> BoxFuture<'_, Result<LeaseId>> {
        self.write(move |reply| Op::Grant { ttl, reply })
    }

    fn keep_alive(&self, lease: LeaseId) -> BoxFuture<'_, Result<Duration>> {
        Box::pin(async move {
            self.leases
                .keep_alive(lease)
                .ok_or(Error::LeaseNotFound { lease })
        })
    }

    fn revoke_lease(&self, lease: LeaseId) -> BoxFuture<'_, Result<()>> {
        self.write(move |reply| Op::Revoke { lease, reply })
    }
}
