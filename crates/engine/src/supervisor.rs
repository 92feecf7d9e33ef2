//! Starting a container's supervisor ([`crate::shim`]) as a process of its own: the
//! `tug` binary in its hidden `container-shim` mode (`container-monitor` for `tug run`,
//! see [`detach`]), in a new session, so it outlives the agent.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::shim::Paths;

/// Spawns the supervisor; it reports through its record file.
pub fn spawn(exe: &Path, paths: &Paths) -> std::io::Result<u32> {
    let mut command = Command::new(exe);
    command
        .arg("container-shim")
        .arg("--root").arg(&paths.root)
        .arg("--id").arg(&paths.id)
        .arg("--bundle").arg(&paths.bundle)
        .arg("--log").arg(&paths.log)
        .arg("--record").arg(&paths.record);
    detach(command)
}

/// Starts `command` (a supervisor mode of the `tug` binary) in a new session with its
/// stdio on /dev/null, so it outlives its caller; returns its PID.
pub fn detach(mut command: Command) -> std::io::Result<u32> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        })
    };
    let mut child = command.spawn()?;
    let pid = child.id();
    // Reap it if it ends while this agent runs; after an agent restart, init does.
    std::thread::spawn(move || child.wait());
    Ok(pid)
}
