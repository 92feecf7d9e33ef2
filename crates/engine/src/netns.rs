//! Network namespaces held by files: a new namespace is made in a short-lived thread
//! (`unshare` only moves that thread), its loopback brought up, and its nsfs file
//! bind-mounted on `<container>/netns`, so it lives until [`remove`] whatever process
//! runs in it, and another container can join it by path (`--network container:NAME`).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::{Error, Result};

fn last_error(context: String) -> Error {
    Error::io(context, std::io::Error::last_os_error())
}

/// Makes a namespace with loopback up, held at `path`.
pub fn create(path: &Path) -> Result<()> {
    std::fs::File::create(path).map_err(|e| Error::io(format!("create {}", path.display()), e))?;
    let target = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::State(format!("bad path {}", path.display())))?;
    let made = std::thread::spawn(move || -> Result<()> {
        // SAFETY: unshare takes flags only; it affects this thread alone, which ends next.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(last_error("unshare a network namespace".into()));
        }
        loopback_up()?;
        let source = c"/proc/thread-self/ns/net";
        // SAFETY: both are NUL-terminated paths; a bind mount takes no data.
        if unsafe { libc::mount(source.as_ptr(), target.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) } != 0 {
            return Err(last_error(format!("bind the network namespace on {}", target.to_string_lossy())));
        }
        Ok(())
    })
    .join()
    .map_err(|_| Error::State("the network namespace thread panicked".into()))?;
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// Sets IFF_UP on `lo` in this thread's network namespace.
fn loopback_up() -> Result<()> {
    // SAFETY: a plain datagram socket, closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(last_error("open a socket to bring lo up".into()));
    }
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: sock is open and req a valid ifreq naming lo; the ioctls read/write it.
    let ok = unsafe {
        libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) == 0 && {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) == 0
        }
    };
    let result = if ok { Ok(()) } else { Err(last_error("bring lo up".into())) };
    // SAFETY: sock is ours and closed once.
    unsafe { libc::close(sock) };
    result
}

/// Lets go of the namespace at `path` (it ends once no process is in it) and removes the file.
pub fn remove(path: &Path) {
    if let Ok(target) = CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: a NUL-terminated path; failure (not mounted) is fine.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = std::fs::remove_file(path);
}
