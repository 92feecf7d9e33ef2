//! `run`: create, start, and (unless detached) wait in the foreground, forwarding
//! signals to the container, then delete it and report the program's exit status.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::create::{self, CreateOptions};
use crate::delete;
use crate::error::{Error, Result};
use crate::start;
use crate::state::Status;

static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, signal) };
    }
}

/// Runs the container; returns its exit code (128 + signal if killed), or 0 when detached.
pub fn run(opts: &CreateOptions, detach: bool) -> Result<i32> {
    let container = create::create(opts)?;
    if let Err(e) = start::start(&opts.root, &opts.id) {
        let _ = delete::destroy(&container, container.status());
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let pid = container.record.pid;
    FORWARD_TO.store(pid, Ordering::Relaxed);
    let signals = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH];
    // SAFETY: `forward` only calls async-signal-safe functions.
    let previous = signals.map(|sig| unsafe { libc::signal(sig, forward as *const () as libc::sighandler_t) });
    let mut status = 0;
    let waited = loop {
        // SAFETY: pid is our child (create cloned it); status is a valid out-parameter.
        let ret = unsafe { libc::waitpid(pid, &mut status, 0) };
        if ret == pid {
            break Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            break Err(Error::Io { context: format!("wait for container {}", opts.id), source: err });
        }
    };
    FORWARD_TO.store(0, Ordering::Relaxed);
    // A library caller (a build running many containers) gets its own handlers back.
    for (sig, handler) in signals.into_iter().zip(previous) {
        // SAFETY: restores the handler signal() returned for this signal.
        unsafe { libc::signal(sig, handler) };
    }
    waited?;
    delete::destroy(&container, Status::Stopped)?;
    Ok(if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) })
}
