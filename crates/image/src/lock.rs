//! Advisory file locks (`flock`) that serialize writers of the store's `index.json` and
//! keep garbage collection away from content that is being added.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{IoContext, Result};

/// A held `flock`; released when dropped (the file is closed).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until the exclusive lock on `path` is held.
    pub fn exclusive(path: &Path) -> Result<FileLock> {
        FileLock::take(path, libc::LOCK_EX)
    }

    /// Blocks until a shared lock on `path` is held.
    pub fn shared(path: &Path) -> Result<FileLock> {
        FileLock::take(path, libc::LOCK_SH)
    }

    fn take(path: &Path, how: libc::c_int) -> Result<FileLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ctx("open lock file", path)?;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is passed.
            let rc = unsafe { libc::flock(file.as_raw_fd(), how) };
            if rc == 0 {
                return Ok(FileLock { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err).ctx("lock", path);
            }
        }
    }
}
