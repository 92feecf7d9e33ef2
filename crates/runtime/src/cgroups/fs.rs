//! Reading and writing cgroup files, with errors that name the file and value.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::error::{CgroupError, Result};

/// Value the kernel prints for "no limit" in v2 files (v1 prints a huge number).
pub const MAX: &str = "max";

/// Reads a whole file.
pub fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|cause| CgroupError::Read {
        path: path.to_path_buf(),
        cause,
    })
}

/// Reads a file that may legitimately be missing (a controller that is not enabled,
/// a kernel without that feature): `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(cause) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            cause,
        }),
    }
}

/// Writes `value` to an existing cgroup file in one write(2), as cgroupfs expects.
pub fn write(path: &Path, value: &str) -> Result<()> {
    let fail = |cause| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        cause,
    };
    let mut file = OpenOptions::new().write(true).open(path).map_err(fail)?;
    file.write_all(value.as_bytes()).map_err(fail)
}

/// Writes `value` to `dir/file`.
pub fn write_in(dir: &Path, file: &str, value: &str) -> Result<()> {
    write(&dir.join(file), value)
}

/// Parses an unsigned number as cgroup files print it; `max` reads as `u64::MAX`.
pub fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    let text = text.trim();
    if text == MAX {
        return Ok(u64::MAX);
    }
    text.parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        reason: format!("expected a number, found {text:?}"),
    })
}

/// Reads a single-number file; a missing file reads as 0 (for statistics).
pub fn read_u64_or_zero(path: &Path) -> Result<u64> {
    match read_optional(path)? {
        Some(text) => parse_u64(path, &text),
        None => Ok(0),
    }
}

/// Parses "key value" lines (memory.stat, cpu.stat, memory.events, cgroup.events).
pub fn parse_keyed(path: &Path, text: &str) -> Result<HashMap<String, u64>> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.split_whitespace();
            match (fields.next(), fields.next()) {
                (Some(key), Some(value)) => Ok((key.to_string(), parse_u64(path, value)?)),
                _ => Err(CgroupError::Parse {
                    path: path.to_path_buf(),
                    reason: format!("expected \"key value\", found {line:?}"),
                }),
            }
        })
        .collect()
}

/// Reads a "key value" file; a missing file reads as empty (for statistics).
pub fn read_keyed_or_empty(path: &Path) -> Result<HashMap<String, u64>> {
    match read_optional(path)? {
        Some(text) => parse_keyed(path, &text),
        None => Ok(HashMap::new()),
    }
}

/// Reads one key of a "key value" file, `None` if the file or key is missing.
pub fn read_key(path: &Path, key: &str) -> Result<Option<u64>> {
    Ok(read_keyed_or_empty(path)?.get(key).copied())
}

/// The pids listed in `dir/cgroup.procs`.
pub fn read_procs(dir: &Path) -> Result<Vec<i32>> {
    let path = dir.join("cgroup.procs");
    read(&path)?
        .split_whitespace()
        .map(|pid| {
            pid.parse().map_err(|_| CgroupError::Parse {
                path: path.clone(),
                reason: format!("expected a pid, found {pid:?}"),
            })
        })
        .collect()
}

/// `dir` and every cgroup directory below it, parents before children.
/// A `dir` that does not exist yields nothing.
pub fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let entries = match fs::read_dir(&next) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(cause) => return Err(CgroupError::Read { path: next, cause }),
        };
        for entry in entries {
            let entry = entry.map_err(|cause| CgroupError::Read {
                path: next.clone(),
                cause,
            })?;
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                pending.push(entry.path());
            }
        }
        found.push(next);
    }
    found.sort_by_key(|path| path.components().count());
    Ok(found)
}

/// Removes a cgroup directory. It may be busy for a moment after its last
/// process was killed, so EBUSY is retried for up to a second; a missing
/// directory is already removed.
pub fn remove_dir(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) if err.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(cause) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    cause,
                })
            }
        }
    }
}

/// Polls `check` every few milliseconds until it returns true or five seconds pass.
pub fn wait_until(
    path: &Path,
    expected: &'static str,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check()? {
        if Instant::now() >= deadline {
            return Err(CgroupError::Timeout {
                path: path.to_path_buf(),
                expected,
            });
        }
        thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_parses_as_unlimited_and_numbers_as_numbers() {
        let path = Path::new("pids.max");
        assert_eq!(parse_u64(path, "max\n").unwrap(), u64::MAX);
        assert_eq!(parse_u64(path, "42\n").unwrap(), 42);
        assert!(parse_u64(path, "lots").is_err());
    }

    #[test]
    fn keyed_files_parse_into_a_map() {
        let map = parse_keyed(Path::new("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        assert_eq!(map["populated"], 1);
        assert_eq!(map["frozen"], 0);
        assert!(parse_keyed(Path::new("x"), "lonely\n").is_err());
    }
}
