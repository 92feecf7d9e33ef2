//! A container's terminal: the init (or exec'd) process opens a pseudo-terminal in the
//! container's own devpts, hands the master side to whoever listens on the console socket
//! (SCM_RIGHTS, as runc does), and makes the slave side its controlling terminal and stdio.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// Connects to the console socket; done before pivot_root, while its path is reachable.
pub fn connect(socket: &Path) -> Result<UnixStream> {
    UnixStream::connect(socket).ctx(|| format!("connect to console socket {}", socket.display()))
}

/// Opens a pty, sends its master over `socket`, and makes the slave this process's
/// controlling terminal and stdin/stdout/stderr.
pub fn setup(socket: &UnixStream, size: Option<(u64, u64)>) -> Result<()> {
    let fail = |what: &str| Error::Io { context: format!("console: {what}"), source: io::Error::last_os_error() };
    // SAFETY: opening a path with constant flags.
    let master = unsafe { libc::open(c"/dev/ptmx".as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if master < 0 {
        return Err(fail("open /dev/ptmx"));
    }
    // SAFETY: master was just opened and is owned only here.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let mut unlock: libc::c_int = 0;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to int, TIOCGPTN a pointer to unsigned int.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) } < 0
        || unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) } < 0
    {
        return Err(fail("unlock pty"));
    }
    let slave_path = std::ffi::CString::new(format!("/dev/pts/{number}")).map_err(|_| fail("pty name"))?;
    // SAFETY: slave_path is a valid C string.
    let slave = unsafe { libc::open(slave_path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY) };
    if slave < 0 {
        return Err(fail("open pty slave"));
    }
    if let Some((height, width)) = size {
        let ws = libc::winsize { ws_row: height as u16, ws_col: width as u16, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ takes a pointer to a winsize.
        unsafe { libc::ioctl(slave, libc::TIOCSWINSZ, &ws) };
    }
    send_fd(socket, master.as_raw_fd(), &format!("/dev/pts/{number}")).ctx(|| "console: send the pty master".into())?;
    // SAFETY: setsid and ioctl with integer arguments; dup2 onto stdio of fds we own.
    unsafe {
        libc::setsid();
        if libc::ioctl(slave, libc::TIOCSCTTY, 0) < 0 {
            return Err(fail("set controlling terminal"));
        }
        for fd in 0..3 {
            if libc::dup2(slave, fd) < 0 {
                return Err(fail("dup pty onto stdio"));
            }
        }
        if slave > 2 {
            libc::close(slave);
        }
    }
    Ok(())
}

/// Sends one fd with a name as its payload (SCM_RIGHTS).
fn send_fd(socket: &UnixStream, fd: RawFd, name: &str) -> io::Result<()> {
    let mut payload = name.as_bytes().to_vec();
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: an all-zero msghdr is valid; the fields are set below to live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg has room for one cmsg carrying one fd, as computed with CMSG_SPACE.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        if libc::sendmsg(socket.as_raw_fd(), &msg, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
