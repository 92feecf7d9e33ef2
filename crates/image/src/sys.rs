//! The few syscalls std does not wrap: device nodes, fifos, extended attributes,
//! timestamps without following symlinks, and overlay mounts. Each `unsafe` block only
//! passes NUL-terminated copies of paths and buffers we own for the call's duration.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstr(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

fn cpath(path: &Path) -> io::Result<CString> {
    cstr(path.as_os_str().as_bytes())
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `mknod(path, mode, makedev(major, minor))`; `mode` includes the file type bits.
pub fn mknod(path: &Path, mode: libc::mode_t, major: u32, minor: u32) -> io::Result<()> {
    let p = cpath(path)?;
    // SAFETY: p is a valid NUL-terminated string for the duration of the call.
    check(unsafe { libc::mknod(p.as_ptr(), mode, libc::makedev(major, minor)) })
}

/// `mkfifo(path, mode)`.
pub fn mkfifo(path: &Path, mode: libc::mode_t) -> io::Result<()> {
    let p = cpath(path)?;
    // SAFETY: p is a valid NUL-terminated string for the duration of the call.
    check(unsafe { libc::mkfifo(p.as_ptr(), mode) })
}

/// `lsetxattr`: sets an extended attribute without following a symlink at `path`.
pub fn set_xattr(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let p = cpath(path)?;
    let n = cstr(name.as_bytes())?;
    // SAFETY: p and n are NUL-terminated; value points to value.len() readable bytes.
    check(unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// `lgetxattr`: the value of an extended attribute, `None` when it is absent.
pub fn get_xattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let p = cpath(path)?;
    let n = cstr(name.as_bytes())?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: p and n are NUL-terminated; buf has buf.len() writable bytes.
        let rc =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if rc >= 0 {
            buf.truncate(rc as usize);
            return Ok(Some(buf));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => return Ok(None),
            Some(libc::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            _ => return Err(err),
        }
    }
}

/// `llistxattr`: the names of a file's extended attributes.
pub fn list_xattrs(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let p = cpath(path)?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: p is NUL-terminated; buf has buf.len() writable bytes.
        let rc = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if rc >= 0 {
            buf.truncate(rc as usize);
            return Ok(buf
                .split(|b| *b == 0)
                .filter(|n| !n.is_empty())
                .map(<[u8]>::to_vec)
                .collect());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            Some(libc::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            _ => return Err(err),
        }
    }
}

/// Sets access and modification time to `mtime` (seconds), not following symlinks.
pub fn set_mtime(path: &Path, mtime: i64) -> io::Result<()> {
    let p = cpath(path)?;
    let t = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: p is NUL-terminated and times points to two timespecs.
    check(unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            p.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

/// Mounts an overlay filesystem at `target` with the given option string.
pub fn mount_overlay(target: &Path, options: &str) -> io::Result<()> {
    let src = cstr(b"overlay")?;
    let t = cpath(target)?;
    let data = cstr(options.as_bytes())?;
    // SAFETY: every pointer is a NUL-terminated string alive for the call.
    check(unsafe {
        libc::mount(
            src.as_ptr(),
            t.as_ptr(),
            src.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    })
}

/// `umount2(target, flags)`.
pub fn umount(target: &Path, flags: libc::c_int) -> io::Result<()> {
    let t = cpath(target)?;
    // SAFETY: t is a NUL-terminated string alive for the call.
    check(unsafe { libc::umount2(t.as_ptr(), flags) })
}

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Points some of this process's standard descriptors at /dev/null until dropped (then
/// restores them), so a child cloned meanwhile inherits the null device: a RUN step's
/// stdin always, its stdout and stderr in a quiet build.
pub struct NullStdio {
    /// (descriptor, saved copy) pairs.
    saved: Vec<(libc::c_int, libc::c_int)>,
}

impl NullStdio {
    pub fn new(fds: &[libc::c_int]) -> io::Result<NullStdio> {
        use std::os::fd::AsRawFd;
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?;
        // Restores whatever was switched so far if a later call fails.
        let mut guard = NullStdio {
            saved: Vec::with_capacity(fds.len()),
        };
        for &fd in fds {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes a plain descriptor number and returns a
            // new descriptor we own.
            let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
            if copy < 0 {
                return Err(io::Error::last_os_error());
            }
            guard.saved.push((fd, copy));
            // SAFETY: both are open descriptors; dup2 replaces fd atomically.
            check(unsafe { libc::dup2(null.as_raw_fd(), fd) })?;
        }
        Ok(guard)
    }
}

impl Drop for NullStdio {
    fn drop(&mut self) {
        for &(fd, copy) in &self.saved {
            // SAFETY: `copy` is the descriptor saved in `new` and owned by us.
            unsafe {
                libc::dup2(copy, fd);
                libc::close(copy);
            }
        }
    }
}
