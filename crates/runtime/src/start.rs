//! `start`: releases a created container's init process into the program. Opening the
//! exec fifo for reading unblocks the init, which writes one byte and execs.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::hooks::{self, Point};
use crate::state::{Container, Status};

pub fn start(root: &Path, id: &str) -> Result<()> {
    let container = Container::load(root, id)?;
    match container.status() {
        Status::Created => {}
        Status::Stopped => return Err(Error::State("cannot start a container that has stopped".into())),
        status => return Err(Error::State(format!("cannot start an already {status} container"))),
    }
    let fifo_path = container.fifo();
    let mut fifo = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .ctx(|| format!("open {}", fifo_path.display()))?;
    // The init process writes one byte once it sees a reader, and its end of the fifo
    // closes when it execs the program: wait for both, watching that the init lives.
    let mut byte = [0u8; 1];
    let mut released = false;
    loop {
        let mut pfd = libc::pollfd { fd: fifo.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: pfd is one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 10) };
        match fifo.read(&mut byte) {
            Ok(1) => released = true,
            Ok(_) if pfd.revents & libc::POLLHUP != 0 => break,
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => return Err(Error::Io { context: "read the exec fifo".into(), source: e }),
            _ => {}
        }
        if !container.init_alive() {
            break;
        }
    }
    if !released {
        return Err(Error::State("cannot start a container that has stopped".into()));
    }
    std::fs::remove_file(&fifo_path).ctx(|| format!("remove {}", fifo_path.display()))?;
    let spec = &container.record.spec;
    let state_json = serde_json::to_string(&container.oci_state(Status::Running)).unwrap_or_default();
    hooks::run_warn(spec.hooks().as_ref(), Point::Poststart, &state_json);
    Ok(())
}
