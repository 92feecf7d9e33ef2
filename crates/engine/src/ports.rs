//! `-p` publishing. The caller binds each host port before the container starts (so a
//! port in use is a clear error and nothing is made), and the container's supervisor
//! proxies every connection to the container's bridge address in user space (as
//! Docker's docker-proxy does), which serves 127.0.0.1 and every host address alike
//! and needs no firewall rules. The listeners close when the supervisor ends.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};

use crate::options::Port;
use crate::{Error, Result};

/// Binds every published host port, or none.
pub fn bind(ports: &[Port]) -> Result<Vec<TcpListener>> {
    ports
        .iter()
        .map(|p| {
            TcpListener::bind((p.host_ip, p.host_port)).map_err(|e| {
                let what = format!("{}:{}", p.host_ip, p.host_port);
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    Error::Conflict(format!(
                        "cannot publish -p {what}:{}: host port {what} is already in use; stop what holds it or choose another host port",
                        p.container_port
                    ))
                } else {
                    Error::io(format!("bind host port {what} for -p"), e)
                }
            })
        })
        .collect()
}

/// Lets a listener pass to a child process (clears close-on-exec); returns its number.
pub fn inheritable(listener: TcpListener) -> RawFd {
    let fd = listener.into_raw_fd();
    // SAFETY: fd is an open descriptor we own; F_SETFD with 0 clears FD_CLOEXEC.
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    fd
}

/// Takes back a listener passed by number (close-on-exec again, so the container never
/// inherits it).
pub fn adopt(fd: RawFd) -> TcpListener {
    // SAFETY: the caller passed this descriptor to us as a listening socket we now own.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    // SAFETY: fd is open; FD_CLOEXEC is a plain flag.
    unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    listener
}

/// Proxies connections on each listener to `ip`'s matching container port, in threads
/// that live as long as this process.
pub fn serve(listeners: Vec<TcpListener>, ports: &[Port], ip: Ipv4Addr) {
    for (listener, port) in listeners.into_iter().zip(ports) {
        let target = SocketAddrV4::new(ip, port.container_port);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    if let Ok(upstream) = TcpStream::connect(target) {
                        splice(client, upstream);
                    }
                });
            }
        });
    }
}

/// Copies both ways until each side has finished sending.
fn splice(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else { return };
    let forward = std::thread::spawn(move || pump(a2, b2));
    pump(b, a);
    let _ = forward.join();
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 32 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
