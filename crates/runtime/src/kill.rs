//! `kill`: sends a signal to a container's init process, or with `all` to every process
//! in its cgroup.

use std::path::Path;

use crate::error::{Error, Result};
use crate::state::{Container, Status};

pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<()> {
    let container = Container::load(root, id)?;
    let status = container.status();
    if status == Status::Stopped {
        return Err(Error::State("container not running".into()));
    }
    if all {
        container.cgroup()?.kill_all(signal)?;
    } else {
        // SAFETY: kill takes plain integers; the pid was checked to be the container's init.
        if unsafe { libc::kill(container.record.pid, signal) } < 0 {
            return Err(Error::Io { context: format!("kill container {id}"), source: std::io::Error::last_os_error() });
        }
    }
    // A frozen process cannot act on a signal; let a fatal one through.
    if status == Status::Paused && signal == libc::SIGKILL {
        container.cgroup()?.thaw()?;
    }
    Ok(())
}
