//! The message channel between the runtime and the container's init process while the
//! container is being created: a SOCK_SEQPACKET socketpair, one message per packet.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// One end of the channel.
pub struct Channel {
    fd: OwnedFd,
}

/// Messages are a one-byte tag and an optional UTF-8 payload.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    /// runtime → init: uid/gid maps are written and the process is in its cgroup.
    Go,
    /// init → runtime: namespaces are in place (prestart and createRuntime hooks may run).
    NamespacesReady,
    /// runtime → init: hooks done; payload is the OCI state JSON for createContainer hooks.
    Continue(String),
    /// init → runtime: everything is set up; init now waits for `start`.
    Ready,
    /// init → runtime: setup failed.
    Failed(String),
    /// exec helper → runtime: the host PID of the process being exec'd.
    Started(i32),
}

pub fn pair() -> io::Result<(Channel, Channel)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints for socketpair to fill.
    let ret = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (Channel { fd: OwnedFd::from_raw_fd(fds[0]) }, Channel { fd: OwnedFd::from_raw_fd(fds[1]) }) })
}

impl Channel {
    pub fn send(&self, msg: &Message) -> io::Result<()> {
        let (tag, payload) = match msg {
            Message::Go => (b'g', String::new()),
            Message::NamespacesReady => (b'n', String::new()),
            Message::Continue(s) => (b'c', s.clone()),
            Message::Ready => (b'r', String::new()),
            Message::Failed(s) => (b'f', s.clone()),
            Message::Started(pid) => (b's', pid.to_string()),
        };
        let mut buf = Vec::with_capacity(1 + payload.len());
        buf.push(tag);
        buf.extend_from_slice(payload.as_bytes());
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Receives one message; `Ok(None)` when the other end closed (the process died).
    pub fn recv(&self) -> io::Result<Option<Message>> {
        let mut buf = vec![0u8; 1 << 16];
        let n = loop {
            // SAFETY: buf is valid for buf.len() bytes.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                break n as usize;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let payload = String::from_utf8_lossy(&buf[1..n]).into_owned();
        let msg = match buf[0] {
            b'g' => Message::Go,
            b'n' => Message::NamespacesReady,
            b'c' => Message::Continue(payload),
            b'r' => Message::Ready,
            b'f' => Message::Failed(payload),
            b's' => Message::Started(payload.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad pid"))?),
            other => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown message tag {other}"))),
        };
        Ok(Some(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_close_is_none() {
        let (a, b) = pair().unwrap();
        a.send(&Message::Continue("{\"id\":\"x\"}".into())).unwrap();
        a.send(&Message::Failed("mount proc: EPERM".into())).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Message::Continue("{\"id\":\"x\"}".into())));
        assert_eq!(b.recv().unwrap(), Some(Message::Failed("mount proc: EPERM".into())));
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }
}
