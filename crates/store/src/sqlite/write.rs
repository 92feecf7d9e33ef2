//! The single writer: one thread owns the writing connection, applies writes
//! in revision order, commits each group of queued writes in one durable
//! transaction, publishes the changes to watchers, and only then
//! acknowledges them.
//!
//! Grouping risks no acknowledged write: a write is acknowledged after the
//! commit that holds it, and a write that did not commit is answered with an
//! error. Writes that queue up while a commit waits on the disk share the
//! next commit, so concurrent writers cost one disk sync per group.

use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use super::schema::{self, KV_COLUMNS};
use crate::error::{Error, Result};
use crate::kv::{Event, EventKind, KeyValue, LeaseId};
use crate::lease::Leases;
use crate::watch::Hub;

/// Where a write's answer goes.
pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

/// A write waiting for the writer.
pub(crate) enum Op {
    Create {
        key: String,
        value: Vec<u8>,
        lease: Option<LeaseId>,
        reply: Reply<KeyValue>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: i64,
        lease: Option<LeaseId>,
        reply: Reply<KeyValue>,
    },
    Delete {
        key: String,
        expected: Option<i64>,
        reply: Reply<KeyValue>,
    },
    Compact {
        revision: i64,
        reply: Reply<()>,
    },
    Grant {
        ttl: Duration,
        reply: Reply<LeaseId>,
    },
    Revoke {
        lease: LeaseId,
        reply: Reply<()>,
    },
}

impl Op {
    /// Answers a write that was not applied.
    fn reject(self, message: &str) {
        let error = || Error::Storage {
            context: "write was not committed".into(),
            message: message.into(),
        };
        match self {
            Op::Create { reply, .. } | Op::Update { reply, .. } | Op::Delete { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
            Op::Compact { reply, .. } | Op::Revoke { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
            Op::Grant { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
        }
    }
}

/// The most writes committed together.
const MAX_GROUP: usize = 256;

/// Sends a write's answer once its commit is known: its own result if the
/// commit succeeded, the commit's failure otherwise.
type Acknowledge = Box<dyn FnOnce(std::result::Result<(), &str>) + Send>;

/// What a lease write changes in memory once committed.
enum LeaseChange {
    Granted(LeaseId, Duration),
    Revoked(LeaseId),
}

/// The writes of one transaction, applied but not yet committed.
#[derive(Default)]
struct Group {
    events: Vec<Event>,
    lease_changes: Vec<LeaseChange>,
    acks: Vec<Acknowledge>,
    /// Set when a write failed in the database: the group is rolled back.
    failure: Option<String>,
}

impl Group {
    /// Stages the answer of a write: `result` is the database's outcome
    /// (an error there fails the group) wrapping the write's own.
    fn answer<T: Send + 'static>(
        &mut self,
        reply: Reply<T>,
        what: String,
        result: rusqlite::Result<Result<T>>,
    ) {
        let result = match result {
            Ok(result) => result,
            Err(e) => {
                let message = e.to_string();
                self.failure.get_or_insert_with(|| message.clone());
                Err(Error::Storage {
                    context: format!("{what} failed"),
                    message,
                })
            }
        };
        self.acks.push(Box::new(move |commit| {
            let answer = match commit {
                Ok(()) => result,
                // Its own database error, or else the group's: even a
                // conflict may have been with a write that was rolled back.
                Err(message) => Err(match result {
                    Err(own @ Error::Storage { .. }) => own,
                    _ => Error::Storage {
                        context: format!("{what} was not committed"),
                        message: message.into(),
                    },
                }),
            };
            let _ = reply.send(answer);
        }));
    }
}

pub(crate) struct Writer {
    conn: Connection,
    /// The last revision written (in the open transaction, during a group).
    revision: i64,
    /// The last lease id handed out.
    last_lease: i64,
    hub: Arc<Hub>,
    leases: Arc<Leases>,
}

impl Writer {
    /// Takes over the writing connection, going on from the revision `hub`
    /// last published; starts the clocks of the stored leases.
    pub(crate) fn new(conn: Connection, hub: Arc<Hub>, leases: Arc<Leases>) -> Result<Writer> {
        let failed = |what: &str| Error::storage(format!("failed to load the store's {what}"));
        let revision = hub.revision();
        let last_lease = conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'last_lease'",
                [],
                |row| row.get(0),
            )
            .map_err(failed("last lease id"))?;
        let stored = schema::leases(&conn).map_err(failed("leases"))?;
        for (id, ttl) in stored {
            leases.insert(id, ttl);
        }
        Ok(Writer {
            conn,
            revision,
            last_lease,
            hub,
            leases,
        })
    }

    /// Serves writes until every sender is gone.
    pub(crate) fn run(mut self, ops: Receiver<Op>) {
        while let Ok(first) = ops.recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match ops.try_recv() {
                    Ok(op) => group.push(op),
                    Err(_) => break,
                }
            }
            self.commit(group);
        }
    }

    /// Applies a group of writes in one transaction and answers them.
    fn commit(&mut self, ops: Vec<Op>) {
        let before = (self.revision, self.last_lease);
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let message = e.to_string();
            ops.into_iter().for_each(|op| op.reject(&message));
            return;
        }
        let mut group = Group::default();
        let mut ops = ops.into_iter();
        for op in ops.by_ref() {
            self.apply(op, &mut group);
            if group.failure.is_some() {
                break;
            }
        }
        let outcome = match group.failure.take() {
            Some(message) => Err(message),
            None => self.conn.execute_batch("COMMIT").map_err(|e| e.to_string()),
        };
        match &outcome {
            Ok(()) => {
                if !group.events.is_empty() {
                    self.hub.publish(self.revision, &group.events);
                }
                for change in group.lease_changes {
                    match change {
                        LeaseChange::Granted(id, ttl) => self.leases.insert(id, ttl),
                        LeaseChange::Revoked(id) => self.leases.remove(id),
                    }
                }
            }
            Err(_) => {
                // COMMIT may have failed and left the transaction open.
                let _ = self.conn.execute_batch("ROLLBACK");
                (self.revision, self.last_lease) = before;
            }
        }
        let outcome = outcome.as_ref().copied().map_err(String::as_str);
        for ack in group.acks {
            ack(outcome);
        }
        if let Err(message) = outcome {
            ops.for_each(|op| op.reject(message));
        }
    }

    fn apply(&mut self, op: Op, group: &mut Group) {
        match op {
            Op::Create {
                key,
                value,
                lease,
                reply,
            } => {
                let result = self.create(&key, value, lease, group);
                group.answer(reply, format!("create of {key}"), result);
            }
            Op::Update {
                key,
                value,
                expected,
                lease,
                reply,
            } => {
                let result = self.update(&key, value, expected, lease, group);
                group.answer(reply, format!("update of {key}"), result);
            }
            Op::Delete {
                key,
                expected,
                reply,
            } => {
                let result = self.delete(&key, expected, group);
                group.answer(reply, format!("delete of {key}"), result);
            }
            Op::Compact { revision, reply } => {
                let result = self.compact(revision);
                group.answer(reply, format!("compaction at revision {revision}"), result);
            }
            Op::Grant { ttl, reply } => {
                let result = self.grant(ttl, group);
                group.answer(reply, "lease grant".into(), result);
            }
            Op::Revoke { lease, reply } => {
                let result = self.revoke(lease, group);
                group.answer(reply, format!("revoke of lease {lease}"), result);
            }
        }
    }

    fn create(
        &mut self,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
        group: &mut Group,
    ) -> rusqlite::Result<Result<KeyValue>> {
        if schema::live(&self.conn, key)?.is_some() {
            return Ok(Err(Error::AlreadyExists { key: key.into() }));
        }
        if let Some(missing) = self.missing_lease(lease)? {
            return Ok(Err(missing));
        }
        self.revision += 1;
        let kv = KeyValue {
            key: key.into(),
            value,
            create_revision: self.revision,
            mod_revision: self.revision,
            version: 1,
            lease,
        };
        self.insert(&kv, 0, false)?;
        group.events.push(Event {
            kind: EventKind::Put,
            kv: kv.clone(),
            prev_kv: None,
        });
        Ok(Ok(kv))
    }

    fn update(
        &mut self,
        key: &str,
        value: Vec<u8>,
        expected: i64,
        lease: Option<LeaseId>,
        group: &mut Group,
    ) -> rusqlite::Result<Result<KeyValue>> {
        let Some(current) = schema::live(&self.conn, key)? else {
            return Ok(Err(Error::NotFound { key: key.into() }));
        };
        if current.mod_revision != expected {
            return Ok(Err(Error::Conflict {
                key: key.into(),
                expected,
                current: Box::new(current),
            }));
        }
        if let Some(missing) = self.missing_lease(lease)? {
            return Ok(Err(missing));
        }
        self.revision += 1;
        let kv = KeyValue {
            key: key.into(),
            value,
            create_revision: current.create_revision,
            mod_revision: self.revision,
            version: current.version + 1,
            lease,
        };
        self.insert(&kv, current.mod_revision, false)?;
        group.events.push(Event {
            kind: EventKind::Put,
            kv: kv.clone(),
            prev_kv: Some(current),
        });
        Ok(Ok(kv))
    }

    fn delete(
        &mut self,
        key: &str,
        expected: Option<i64>,
        group: &mut Group,
    ) -> rusqlite::Result<Result<KeyValue>> {
        let Some(current) = schema::live(&self.conn, key)? else {
            return Ok(Err(Error::NotFound { key: key.into() }));
        };
        if let Some(expected) = expected.filter(|&expected| expected != current.mod_revision) {
            return Ok(Err(Error::Conflict {
                key: key.into(),
                expected,
                current: Box::new(current),
            }));
        }
        self.tombstone(current.clone(), group)?;
        Ok(Ok(current))
    }

    /// Writes the delete of a live key.
    fn tombstone(&mut self, current: KeyValue, group: &mut Group) -> rusqlite::Result<()> {
        self.revision += 1;
        let kv = KeyValue {
            key: current.key.clone(),
            value: Vec::new(),
            create_revision: 0,
            mod_revision: self.revision,
            version: 0,
            lease: None,
        };
        self.insert(&kv, current.mod_revision, true)?;
        group.events.push(Event {
            kind: EventKind::Delete,
            kv,
            prev_kv: Some(current),
        });
        Ok(())
    }

    fn insert(&self, kv: &KeyValue, prev_revision: i64, deleted: bool) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO log (revision, key, value, create_revision, prev_revision, version, lease, deleted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                kv.mod_revision,
                kv.key,
                kv.value,
                kv.create_revision,
                prev_revision,
                kv.version,
                kv.lease.map_or(0, |lease| lease.0),
                deleted,
            ])?;
        Ok(())
    }

    /// The error for a write naming a lease that does not exist.
    fn missing_lease(&self, lease: Option<LeaseId>) -> rusqlite::Result<Option<Error>> {
        let Some(lease) = lease else { return Ok(None) };
        let exists = self
            .conn
            .prepare_cached("SELECT 1 FROM lease WHERE id = ?1")?
            .exists([lease.0])?;
        Ok((!exists).then_some(Error::LeaseNotFound { lease }))
    }

    fn compact(&mut self, revision: i64) -> rusqlite::Result<Result<()>> {
        if revision > self.revision {
            return Ok(Err(Error::FutureRevision {
                requested: revision,
                current: self.revision,
            }));
        }
        if revision <= schema::compacted_revision(&self.conn)? {
            return Ok(Ok(()));
        }
        // Keep, for each key, its newest row at or below `revision` unless it
        // is a tombstone, and every row above: what reads at `revision` or
        // later need, and watches after it (whose changes' previous values
        // are those newest rows).
        self.conn
            .prepare_cached(
                "DELETE FROM log WHERE revision < ?1 AND (deleted = 1 OR EXISTS (
                     SELECT 1 FROM log AS newer
                     WHERE newer.key = log.key AND newer.revision > log.revision AND newer.revision <= ?1))",
            )?
            .execute([revision])?;
        self.conn
            .prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'compacted'")?
            .execute([revision])?;
        Ok(Ok(()))
    }

    fn grant(&mut self, ttl: Duration, group: &mut Group) -> rusqlite::Result<Result<LeaseId>> {
        self.last_lease += 1;
        let id = LeaseId(self.last_lease);
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached("INSERT INTO lease (id, ttl_ms) VALUES (?1, ?2)")?
            .execute([id.0, ttl_ms])?;
        self.conn
            .prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'last_lease'")?
            .execute([id.0])?;
        group.lease_changes.push(LeaseChange::Granted(id, ttl));
        Ok(Ok(id))
    }

    fn revoke(&mut self, lease: LeaseId, group: &mut Group) -> rusqlite::Result<Result<()>> {
        if self.missing_lease(Some(lease))?.is_some() {
            return Ok(Err(Error::LeaseNotFound { lease }));
        }
        let attached = self
            .conn
            .prepare_cached(&format!(
                "SELECT {KV_COLUMNS} FROM log AS l WHERE lease = ?1 AND deleted = 0
                   AND revision = (SELECT MAX(revision) FROM log WHERE key = l.key)
                 ORDER BY key"
            ))?
            .query_map([lease.0], |row| schema::kv_from_row(row, 0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for kv in attached {
            self.tombstone(kv, group)?;
        }
        self.conn
            .prepare_cached("DELETE FROM lease WHERE id = ?1")?
            .execute([lease.0])?;
        group.lease_changes.push(LeaseChange::Revoked(lease));
        Ok(Ok(()))
    }
}
