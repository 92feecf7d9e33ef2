//! The one error type of the cgroups module.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while managing a container's cgroups.
///
/// Messages are lowercase, name the file (and value) involved and end with the
/// operating system's reason, e.g. `failed to write 1024 to
/// /sys/fs/cgroup/memory/tug/x/memory.limit_in_bytes: Device or resource busy`.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A cgroup file or a /proc file could not be read.
    #[error("failed to read {}: {}", .path.display(), os_reason(.cause))]
    Read { path: PathBuf, cause: io::Error },

    /// The kernel refused a value written to a cgroup file.
    #[error("failed to write {value} to {}: {}", .path.display(), os_reason(.cause))]
    Write {
        path: PathBuf,
        value: String,
        cause: io::Error,
    },

    /// A cgroup directory could not be created.
    #[error("failed to create cgroup {}: {}", .path.display(), os_reason(.cause))]
    Create { path: PathBuf, cause: io::Error },

    /// A cgroup directory could not be removed.
    #[error("failed to remove cgroup {}: {}", .path.display(), os_reason(.cause))]
    Remove { path: PathBuf, cause: io::Error },

    /// A file had content we do not understand.
    #[error("failed to parse {}: {reason}", .path.display())]
    Parse { path: PathBuf, reason: String },

    /// A process of the cgroup could not be signalled.
    #[error("failed to send signal {signal} to pid {pid}: {}", os_reason(.cause))]
    Signal {
        pid: i32,
        signal: i32,
        cause: io::Error,
    },

    /// `linux.cgroupsPath` (or a stored cgroup path) cannot be used.
    #[error("invalid linux.cgroupsPath {}: {reason}", .path.display())]
    InvalidPath { path: PathBuf, reason: String },

    /// A value in `linux.resources` is inconsistent on its own.
    #[error("invalid linux.resources.{field}: {reason}")]
    InvalidResource { field: &'static str, reason: String },

    /// No cgroup or cgroup2 filesystem is mounted.
    #[error("no cgroup filesystem is mounted (see /proc/self/mountinfo)")]
    NotMounted,

    /// The layout of this machine cannot do what was asked.
    #[error("{0}")]
    Unsupported(String),

    /// A cgroup did not reach a state in time (e.g. a freeze that never completes).
    #[error("timed out waiting for {} to show {expected}", .path.display())]
    Timeout {
        path: PathBuf,
        expected: &'static str,
    },
}

/// The operating system's reason without Rust's " (os error N)" suffix.
fn os_reason(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    }
}

/// Results of this module.
pub type Result<T> = std::result::Result<T, CgroupError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_error_names_value_file_and_reason_without_os_error_number() {
        let err = CgroupError::Write {
            path: PathBuf::from("/sys/fs/cgroup/memory/tug/x/memory.limit_in_bytes"),
            value: "1024".into(),
            cause: io::Error::from_raw_os_error(libc::EBUSY),
        };
        assert_eq!(
            err.to_string(),
            "failed to write 1024 to /sys/fs/cgroup/memory/tug/x/memory.limit_in_bytes: \
             Device or resource busy"
        );
    }
}
