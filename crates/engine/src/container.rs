//! A container's record and directory, and finding containers by name or ID prefix.
//!
//! ```text
//! <data>/engine/containers/<id>/container.json   the Record (written atomically)
//!                              /config.json      the OCI bundle's config (at each start)
//!                              /rootfs upper work  the overlay (mounted while running)
//!                              /init             mount points, the layer below upper
//!                              /container.log    CRI-format log, kept across restarts
//!                              /exit.json        the supervisor's record of the last run
//! ```

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::options::RunOptions;
use crate::{Error, Result};

/// What `create` decided, kept for the container's life.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// The image's config digest (Docker's image ID).
    pub image_id: String,
    /// The image's manifest digest (what the container's layers come from).
    pub image_manifest: String,
    pub created: String,
    /// The options as given (`--network container:` holds the other's ID).
    pub options: RunOptions,
    /// The process: entrypoint + command.
    pub args: Vec<String>,
    /// The bridge address while running.
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
}

/// Where a container is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Created,
    Running { pid: i32, started: String },
    Exited { code: i32, started: String, finished: String, reason: String },
}

impl State {
    pub fn running(&self) -> bool {
        matches!(self, State::Running { .. })
    }

    /// Docker's one word: created, running, exited.
    pub fn word(&self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running { .. } => "running",
            State::Exited { .. } => "exited",
        }
    }
}

/// The containers' directory.
#[derive(Clone, Debug)]
pub struct Containers {
    root: PathBuf,
}

impl Containers {
    pub fn new(root: PathBuf) -> Containers {
        Containers { root }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Every container, oldest first.
    pub fn list(&self) -> Result<Vec<Record>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("read {}", self.root.display()), e)),
        };
        let mut out: Vec<Record> = entries
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("container.json")).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect();
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    /// A container by exact name, full ID or unique ID prefix.
    pub fn find(&self, key: &str) -> Result<Record> {
        let all = self.list()?;
        if let Some(r) = all.iter().find(|r| r.name == key || r.id == key) {
            return Ok(r.clone());
        }
        let matches: Vec<&Record> = if key.is_empty() { Vec::new() } else { all.iter().filter(|r| r.id.starts_with(key)).collect() };
        match matches[..] {
            [one] => Ok(one.clone()),
            [] => Err(Error::NoSuchContainer(key.to_string())),
            _ => Err(Error::Conflict(format!("container ID prefix {key:?} matches {} containers: give more of the ID", matches.len()))),
        }
    }

    /// Writes the record atomically (creating the directory).
    pub fn save(&self, record: &Record) -> Result<()> {
        let dir = self.dir(&record.id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| Error::State(format!("encode container record: {e}")))?;
        let tmp = dir.join("container.json.tmp");
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
        std::fs::rename(&tmp, dir.join("container.json")).map_err(|e| Error::io(format!("rename {}", tmp.display()), e))
    }
}

/// The files of one container.
pub struct Files<'a>(pub &'a Path);

impl Files<'_> {
    pub fn rootfs(&self) -> PathBuf {
        self.0.join("rootfs")
    }
    /// The init layer: empty mount-point directories below the container's changes.
    pub fn init(&self) -> PathBuf {
        self.0.join("init")
    }
    pub fn upper(&self) -> PathBuf {
        self.0.join("upper")
    }
    pub fn log(&self) -> PathBuf {
        self.0.join("container.log")
    }
    pub fn exit(&self) -> PathBuf {
        self.0.join("exit.json")
    }
}
