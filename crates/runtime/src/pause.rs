//! `pause` and `resume`: freeze and thaw every process of a container via its cgroup.

use std::path::Path;

use crate::error::{Error, Result};
use crate::state::{Container, Status};

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let container = Container::load(root, id)?;
    match container.status() {
        Status::Running | Status::Created => Ok(container.cgroup()?.freeze()?),
        Status::Paused => Err(Error::State(format!("container {id} is already paused"))),
        _ => Err(Error::State("container not running".into())),
    }
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let container = Container::load(root, id)?;
    match container.status() {
        Status::Paused => Ok(container.cgroup()?.thaw()?),
        _ => Err(Error::State("container not paused".into())),
    }
}
