//! The read-only verbs: `state`, `list`, `ps` and `events --stats`.

use std::path::Path;

use serde::Serialize;

use crate::cgroups::Stats;
use crate::error::{Error, Result};
use crate::state::{Container, OciState, Status};

/// The OCI state of one container.
pub fn state(root: &Path, id: &str) -> Result<String> {
    let container = Container::load(root, id)?;
    to_json_pretty(&container.oci_state(container.status()))
}

/// One row of `list`.
#[derive(Debug, Serialize)]
pub struct ListEntry {
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: String,
    pub created: String,
    pub owner: String,
}

pub fn list(root: &Path) -> Result<Vec<ListEntry>> {
    Ok(Container::list(root)?
        .iter()
        .map(|c| {
            let OciState { status, pid, .. } = c.oci_state(c.status());
            ListEntry {
                id: c.record.id.clone(),
                pid,
                status,
                bundle: c.record.bundle.display().to_string(),
                created: c.record.created.clone(),
                owner: c.record.owner.clone(),
            }
        })
        .collect())
}

/// Host PIDs of every process in the container.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let container = Container::load(root, id)?;
    let mut pids = container.cgroup()?.pids()?;
    pids.sort_unstable();
    Ok(pids)
}

/// One `events` record, as runc prints it.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

/// The resource usage of a running container.
pub fn stats(root: &Path, id: &str) -> Result<Stats> {
    let container = Container::load(root, id)?;
    if container.status() == Status::Stopped {
        return Err(Error::State("container not running".into()));
    }
    Ok(container.cgroup()?.stats()?)
}

/// Whether the container has had a process killed by the OOM killer.
pub fn oom_killed(root: &Path, id: &str) -> Result<bool> {
    Ok(Container::load(root, id)?.cgroup()?.oom_killed()?)
}

pub fn to_json_pretty<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::State(format!("encode json: {e}")))
}
