//! `delete`: removes a stopped container (or, with `force`, kills it first): its
//! processes, its cgroup, poststop hooks, its state directory. Idempotent enough that a
//! crash of `tug` half-way through leaves nothing a second `delete` cannot clean.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::hooks::{self, Point};
use crate::state::{Container, Status};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let container = match Container::load(root, id) {
        Ok(c) => c,
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(Error::State(_)) if force => return remove_damaged(root, id),
        Err(e) => return Err(e),
    };
    let status = container.status();
    match status {
        Status::Stopped => {}
        _ if force => {}
        _ => return Err(Error::State(format!("cannot delete container {id} that is not stopped: {status}"))),
    }
    destroy(&container, status)
}

/// Kills whatever is left, then removes the cgroup and the state; runs poststop hooks.
pub(crate) fn destroy(container: &Container, status: Status) -> Result<()> {
    let cgroup = container.cgroup()?;
    if status != Status::Stopped {
        // SAFETY: kill takes plain integers; the pid is the container's init (checked by status).
        unsafe { libc::kill(container.record.pid, libc::SIGKILL) };
    }
    // Processes outside the init's pid namespace (or exec'd ones) may remain.
    if !cgroup.pids().unwrap_or_default().is_empty() {
        cgroup.kill_all(libc::SIGKILL)?;
        if status == Status::Paused {
            cgroup.thaw()?;
        }
    }
    wait_until(|| !container.init_alive() && cgroup.pids().unwrap_or_default().is_empty());
    cgroup.remove()?;
    let state_json = serde_json::to_string(&container.oci_state(Status::Stopped)).unwrap_or_default();
    hooks::run_warn(container.record.spec.hooks().as_ref(), Point::Poststop, &state_json);
    std::fs::remove_dir_all(&container.dir).map_err(|e| Error::Io { context: format!("remove {}", container.dir.display()), source: e })
}

/// A state directory whose record cannot be read: remove what we can find.
fn remove_damaged(root: &Path, id: &str) -> Result<()> {
    let dir = root.join(id);
    std::fs::remove_dir_all(&dir).map_err(|e| Error::Io { context: format!("remove {}", dir.display()), source: e })
}

/// Polls `done` for up to 10 s (a SIGKILLed process leaves within milliseconds).
fn wait_until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut pause = Duration::from_micros(100);
    while !done() && Instant::now() < deadline {
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}
