//! The container's own network namespace is made by the runtime; between create and
//! start its loopback is brought up here (as Docker does), from a short-lived thread
//! that enters the namespace (`setns` moves only that thread), with one ioctl and no
//! helper process.

use std::os::fd::AsRawFd;

use crate::{Error, Result};

fn last_error(context: String) -> Error {
    Error::io(context, std::io::Error::last_os_error())
}

/// Sets `lo` up in the network namespace of process `pid`.
pub fn loopback_up(pid: i32) -> Result<()> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = std::fs::File::open(&path).map_err(|e| Error::io(format!("open {path}"), e))?;
    std::thread::spawn(move || -> Result<()> {
        // SAFETY: ns is an open nsfs descriptor; setns affects this thread alone, which ends next.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(last_error(format!("enter the network namespace of {pid}")));
        }
        set_up("lo")
    })
    .join()
    .map_err(|_| Error::State("the loopback thread panicked".into()))?
}

/// Sets IFF_UP on `name` in this thread's network namespace.
fn set_up(name: &str) -> Result<()> {
    // SAFETY: a plain datagram socket, closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(last_error(format!("open a socket to bring {name} up")));
    }
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().take(libc::IFNAMSIZ - 1).zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: sock is open and req a valid ifreq naming the interface; the ioctls read/write it.
    let ok = unsafe {
        libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) == 0 && {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) == 0
        }
    };
    let result = if ok { Ok(()) } else { Err(last_error(format!("bring {name} up"))) };
    // SAFETY: sock is ours and closed once.
    unsafe { libc::close(sock) };
    result
}
