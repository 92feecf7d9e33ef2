//! The database file: connections, pragmas, tables, and reading rows back.
//!
//! One table, `log`, holds every version of every key, one row per
//! revision (the revision is the row id). A delete is a row too, a
//! tombstone. The live value of a key at revision R is its newest row at or
//! below R, unless that row is a tombstone. Compaction removes the rows no
//! read at or above the compacted revision can see.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Row};

use super::Durability;
use crate::error::{Error, Result};
use crate::kv::{KeyValue, LeaseId};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    revision        INTEGER PRIMARY KEY,
    key             TEXT    NOT NULL,
    value           BLOB    NOT NULL,
    create_revision INTEGER NOT NULL,  -- 0 for a tombstone
    prev_revision   INTEGER NOT NULL,  -- the version this row replaced; 0 if none
    version         INTEGER NOT NULL,  -- 0 for a tombstone
    lease           INTEGER NOT NULL,  -- 0 for none
    deleted         INTEGER NOT NULL   -- 1 for a tombstone
);
CREATE INDEX IF NOT EXISTS log_key ON log (key, revision);
CREATE INDEX IF NOT EXISTS log_lease ON log (lease) WHERE lease != 0;
CREATE TABLE IF NOT EXISTS lease (
    id     INTEGER PRIMARY KEY,
    ttl_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', 1), ('compacted', 0), ('last_lease', 0);
";

/// The revision of a store that was never written, as in etcd.
const FIRST_REVISION: i64 = 1;

/// The columns [`kv_from_row`] reads, in its order.
pub(crate) const KV_COLUMNS: &str = "key, value, create_revision, revision, version, lease";

/// Opens the writer's connection and creates the tables if need be.
pub(crate) fn open_writer(path: &Path, durability: Durability) -> Result<Connection> {
    let conn = open(path)?;
    let synchronous = match durability {
        Durability::PowerLoss => "FULL",
        Durability::ProcessCrash => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};"
    ))
    .map_err(Error::storage(format!(
        "failed to set up {}",
        path.display()
    )))?;
    conn.execute_batch(&format!("BEGIN; {SCHEMA} COMMIT;"))
        .map_err(Error::storage(format!(
            "failed to create the tables in {}",
            path.display()
        )))?;
    let schema: i64 = conn
        .query_row("SELECT value FROM meta WHERE name = 'schema'", [], |row| {
            row.get(0)
        })
        .map_err(Error::storage(format!(
            "failed to read the schema version of {}",
            path.display()
        )))?;
    if schema != 1 {
        return Err(Error::Storage {
            context: format!("failed to open {}", path.display()),
            message: format!("unknown schema version {schema}"),
        });
    }
    Ok(conn)
}

/// Opens a connection for reads only (after the writer created the tables).
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let conn = open(path)?;
    conn.execute_batch("PRAGMA query_only = 1;")
        .map_err(Error::storage(format!(
            "failed to set up a reader of {}",
            path.display()
        )))?;
    Ok(conn)
}

fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .map_err(Error::storage(format!("failed to open {}", path.display())))?;
    // Not `Connection::busy_timeout`: it needs SQLite 3.44, Debian 12 has 3.40.
    conn.execute_batch("PRAGMA busy_timeout = 10000;")
        .map_err(Error::storage(format!(
            "failed to set up {}",
            path.display()
        )))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Reads a key-value from the columns [`KV_COLUMNS`], starting at `first`.
pub(crate) fn kv_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<KeyValue> {
    let lease: i64 = row.get(first + 5)?;
    Ok(KeyValue {
        key: row.get(first)?,
        value: row.get(first + 1)?,
        create_revision: row.get(first + 2)?,
        mod_revision: row.get(first + 3)?,
        version: row.get(first + 4)?,
        lease: (lease != 0).then_some(LeaseId(lease)),
    })
}

/// The current revision, as the connection's transaction sees it.
pub(crate) fn current_revision(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT MAX(revision) FROM log")?
        .query_row([], |row| row.get::<_, Option<i64>>(0))
        .map(|max| max.unwrap_or(FIRST_REVISION))
}

/// The compacted revision (0 if never compacted).
pub(crate) fn compacted_revision(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT value FROM meta WHERE name = 'compacted'")?
        .query_row([], |row| row.get(0))
}

/// The granted leases and their times to live.
pub(crate) fn leases(conn: &Connection) -> rusqlite::Result<Vec<(LeaseId, Duration)>> {
    conn.prepare_cached("SELECT id, ttl_ms FROM lease")?
        .query_map([], |row| {
            let ttl_ms: i64 = row.get(1)?;
            Ok((
                LeaseId(row.get(0)?),
                Duration::from_millis(ttl_ms.max(0).unsigned_abs()),
            ))
        })?
        .collect()
}

/// The newest version of `key`, live or tombstone: (key-value, deleted).
pub(crate) fn latest(conn: &Connection, key: &str) -> rusqlite::Result<Option<(KeyValue, bool)>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {KV_COLUMNS}, deleted FROM log WHERE key = ?1 ORDER BY revision DESC LIMIT 1"
    ))?;
    let mut rows = statement.query([key])?;
    match rows.next()? {
        Some(row) => Ok(Some((kv_from_row(row, 0)?, row.get::<_, i64>(6)? != 0))),
        None => Ok(None),
    }
}

/// The live version of `key`, if any.
pub(crate) fn live(conn: &Connection, key: &str) -> rusqlite::Result<Option<KeyValue>> {
    Ok(latest(conn, key)?.and_then(|(kv, deleted)| (!deleted).then_some(kv)))
}
