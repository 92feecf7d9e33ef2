//! `exec`: a command run in a running container, its streams carried over a
//! WebSocket session. The process is started by `tug runtime exec` (the `tug`
//! binary, so the agent itself never forks while it runs threads), with pipes, or
//! with a pseudo-terminal when the client asked for one (the runtime's process is
//! made a session leader with the terminal as its controlling terminal).

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::session::{self, Input, Streams};
use crate::websocket::{self, Writer};

/// How long outputs may still drain after the process ended (a background child may
/// hold them open for ever).
const DRAIN: Duration = Duration::from_secs(5);

/// A new pseudo-terminal: (master, slave).
fn open_terminal() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: both out-parameters are valid; name, termios and winsize may be null.
    if unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openpty returned two fresh descriptors owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) })
}

/// What to run, where.
pub struct Request<'a> {
    /// The `tug` binary, whose `runtime exec` starts the process.
    pub exe: &'a Path,
    pub runtime_root: &'a Path,
    /// The container's runtime id.
    pub id: String,
    pub command: Vec<String>,
    pub streams: Streams,
}

/// Runs the request's command in its container and carries its streams until it ends.
pub async fn run<R, W>(reader: R, writer: Writer<W>, v5: bool, request: Request<'_>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Request { exe, runtime_root, id, command, streams } = request;
    let mut process = tokio::process::Command::new(exe);
    process.arg("runtime").arg("--root").arg(runtime_root).arg("exec").arg(&id).arg("--").args(&command);
    process.kill_on_drop(false);
    let terminal = if streams.tty {
        match open_terminal() {
            Ok(pair) => Some(pair),
            Err(e) => {
                session::finish(&writer, &session::status(&command, Err(format!("failed to open a terminal: {e}")))).await;
                return;
            }
        }
    } else {
        None
    };
    match &terminal {
        Some((_, slave)) => {
            let stdio = |fd: &OwnedFd| fd.try_clone().map(Stdio::from);
            match (stdio(slave), stdio(slave), stdio(slave)) {
                (Ok(i), Ok(o), Ok(e)) => {
                    process.stdin(i).stdout(o).stderr(e);
                }
                _ => {
                    session::finish(&writer, &session::status(&command, Err("failed to share the terminal".into()))).await;
                    return;
                }
            }
            // SAFETY: setsid and ioctl are async-signal-safe and touch only the child.
            unsafe {
                process.pre_exec(|| {
                    libc::setsid();
                    libc::ioctl(0, libc::TIOCSCTTY, 0);
                    Ok(())
                })
            };
        }
        None => {
            let pipe_or_null = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
            process.stdin(pipe_or_null(streams.stdin)).stdout(pipe_or_null(streams.stdout)).stderr(pipe_or_null(streams.stderr));
        }
    }
    let mut child = match process.spawn() {
        Ok(child) => child,
        Err(e) => {
            session::finish(&writer, &session::status(&command, Err(format!("failed to start {}: {e}", exe.display())))).await;
            return;
        }
    };
    drop(process);
    let mut outputs = Vec::new();
    let input = match terminal {
        Some((master, slave)) => {
            drop(slave);
            let master = Arc::new(master);
            let file = |fd: &OwnedFd| fd.try_clone().map(|fd| tokio::fs::File::from_std(std::fs::File::from(fd)));
            if let Ok(out) = file(&master) {
                outputs.push(tokio::spawn(session::pump_output(out, websocket::STDOUT, writer.clone())));
            }
            let stdin = if streams.stdin { file(&master).ok() } else { None };
            tokio::spawn(session::pump_input(reader, writer.clone(), Input { stdin, terminal: Some(master) }, v5))
        }
        None => {
            if let Some(out) = child.stdout.take() {
                outputs.push(tokio::spawn(session::pump_output(out, websocket::STDOUT, writer.clone())));
            }
            if let Some(err) = child.stderr.take() {
                outputs.push(tokio::spawn(session::pump_output(err, websocket::STDERR, writer.clone())));
            }
            let stdin = child.stdin.take();
            tokio::spawn(session::pump_input(reader, writer.clone(), Input { stdin, terminal: None }, v5))
        }
    };
    let outcome = match child.wait().await {
        Ok(status) => Ok(status.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0))),
        Err(e) => Err(format!("failed to wait for the command: {e}")),
    };
    let drained = async {
        for output in outputs {
            let _ = output.await;
        }
    };
    let _ = tokio::time::timeout(DRAIN, drained).await;
    input.abort();
    session::finish(&writer, &session::status(&command, outcome)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_terminal_pair_is_two_open_descriptors() {
        let (master, slave) = open_terminal().unwrap();
        assert_ne!(master.as_raw_fd(), slave.as_raw_fd());
        // SAFETY: slave is an open descriptor.
        assert_eq!(unsafe { libc::isatty(slave.as_raw_fd()) }, 1);
    }
}
