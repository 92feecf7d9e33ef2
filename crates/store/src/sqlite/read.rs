//! Reads: a few threads, each with its own connection, take read jobs from
//! one queue. In WAL mode they read committed snapshots while the writer
//! writes, and a slow list never holds up the caller's executor.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction};
use tokio::sync::oneshot;

use super::schema::{self, KV_COLUMNS};
use crate::error::{Error, Result};
use crate::keys::KeyRange;
use crate::kv::{Event, EventKind, KeyValue};
use crate::{RangeRequest, RangeResponse};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The queue of read jobs.
#[derive(Debug, Clone)]
pub(crate) struct Readers {
    jobs: Sender<Job>,
}

impl Readers {
    /// Starts `count` reader threads over the database at `path`.
    pub(crate) fn start(path: &Path, count: usize) -> Result<(Readers, Vec<JoinHandle<()>>)> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut threads = Vec::new();
        for n in 0..count.max(1) {
            let conn = schema::open_reader(path)?;
            let queue = queue.clone();
            let thread = std::thread::Builder::new()
                .name(format!("store-read-{n}"))
                .spawn(move || serve(conn, &queue))
                .map_err(|source| Error::Io {
                    context: "failed to start a store reader thread".into(),
                    source,
                })?;
            threads.push(thread);
        }
        Ok((Readers { jobs }, threads))
    }

    /// Runs `read` on a reader's connection.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(read(conn));
        });
        self.jobs.send(job).map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

fn serve(mut conn: Connection, queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(&mut conn),
            Err(_) => return,
        }
    }
}

/// A read-only snapshot of the database.
fn snapshot(conn: &mut Connection) -> Result<Transaction<'_>> {
    conn.transaction()
        .map_err(Error::storage("failed to start a read"))
}

/// The live value of `key`.
pub(crate) fn get(conn: &mut Connection, key: &str) -> Result<Option<KeyValue>> {
    schema::live(conn, key).map_err(Error::storage(format!("failed to read {key}")))
}

/// The live keys of a range at a revision.
pub(crate) fn range(conn: &mut Connection, request: &RangeRequest) -> Result<RangeResponse> {
    let failed = || {
        Error::storage(format!(
            "failed to read the range from {}",
            request.range.start
        ))
    };
    let tx = snapshot(conn)?;
    let current = schema::current_revision(&tx).map_err(failed())?;
    let compacted = schema::compacted_revision(&tx).map_err(failed())?;
    let revision = request.revision.unwrap_or(current);
    if revision > current {
        return Err(Error::FutureRevision {
            requested: revision,
            current,
        });
    }
    if revision < compacted {
        return Err(Error::Compacted {
            requested: revision,
            compacted,
        });
    }
    let wanted = request.limit.filter(|&limit| limit > 0);
    // One more than the limit tells whether more follow.
    let limit = wanted.map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1);
    // Each key's newest row at or below the revision, if it is not a tombstone.
    let newest = "revision <= ?2 AND deleted = 0
        AND revision = (SELECT MAX(revision) FROM log WHERE key = l.key AND revision <= ?2)";
    let range = &request.range;
    let (bounds, end) = match range.end.as_deref() {
        None => ("key = ?1", None),
        Some("") => ("key >= ?1", None),
        Some(end) => ("key >= ?1 AND key < ?4", Some(end)),
    };
    let sql = format!(
        "SELECT {KV_COLUMNS} FROM log AS l WHERE {bounds} AND {newest} ORDER BY key LIMIT ?3"
    );
    let mut statement = tx.prepare_cached(&sql).map_err(failed())?;
    let rows = match end {
        Some(end) => statement.query(rusqlite::params![range.start, revision, limit, end]),
        None => statement.query(rusqlite::params![range.start, revision, limit]),
    };
    let mut kvs: Vec<KeyValue> = rows
        .and_then(|rows| rows.mapped(|row| schema::kv_from_row(row, 0)).collect())
        .map_err(failed())?;
    let more = wanted.is_some_and(|limit| kvs.len() > limit);
    if let Some(limit) = wanted {
        kvs.truncate(limit);
    }
    Ok(RangeResponse {
        kvs,
        more,
        revision,
    })
}

/// The changes to keys in `range` with revisions in `(after, through]`, in
/// order, each with the version it replaced.
pub(crate) fn changes(
    conn: &mut Connection,
    range: &KeyRange,
    after: i64,
    through: i64,
) -> Result<Vec<Event>> {
    let failed = || {
        Error::storage(format!(
            "failed to read the changes to {} after revision {after}",
            range.start
        ))
    };
    let tx = snapshot(conn)?;
    let compacted = schema::compacted_revision(&tx).map_err(failed())?;
    // Changes after the compacted revision all kept their previous values.
    if after < compacted {
        return Err(Error::Compacted {
            requested: after,
            compacted,
        });
    }
    let mut statement = tx
        .prepare_cached(
            "SELECT l.key, l.value, l.create_revision, l.revision, l.version, l.lease, l.deleted,
                    p.key, p.value, p.create_revision, p.revision, p.version, p.lease
             FROM log AS l LEFT JOIN log AS p ON p.revision = l.prev_revision
             WHERE l.revision > ?1 AND l.revision <= ?2
             ORDER BY l.revision",
        )
        .map_err(failed())?;
    let mut rows = statement.query([after, through]).map_err(failed())?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(failed())? {
        let key: String = row.get(0).map_err(failed())?;
        if !range.contains(&key) {
            continue;
        }
        let event = (|| -> rusqlite::Result<Event> {
            let deleted: bool = row.get(6)?;
            let has_prev = row.get::<_, Option<i64>>(10)?.is_some();
            Ok(Event {
                kind: if deleted {
                    EventKind::Delete
                } else {
                    EventKind::Put
                },
                kv: schema::kv_from_row(row, 0)?,
                prev_kv: if has_prev {
                    Some(schema::kv_from_row(row, 7)?)
                } else {
                    None
                },
            })
        })()
        .map_err(failed())?;
        events.push(event);
    }
    Ok(events)
}
