//! The build's private directory `<store>/build-tmp/<pid>-<n>-<nanos>/`: RUN containers'
//! bundles, runtime state and overlay mounts, COPY layer trees. Removed when the build
//! ends however it ends; and when a build was killed before it could clean up, the next
//! build sweeps what it left (its RUN container is killed and deleted with its cgroup,
//! its mounts detached, its directory removed).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::store::Store;
use crate::sys;

/// The directory of one build; removed (mounts first) when dropped.
pub struct WorkDir(PathBuf);

impl WorkDir {
    /// Sweeps directories of builds whose process is gone, then makes this build's.
    pub fn create(store: &Store) -> Result<WorkDir> {
        let parent = store.root().join("build-tmp");
        sweep(&parent);
        let dir = parent.join(crate::unique_suffix());
        fs::create_dir_all(&dir).ctx("create", &dir)?;
        Ok(WorkDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

/// Removes the directories under `parent` whose build process (the pid that starts
/// the name) no longer runs.
fn sweep(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if pid.is_some() && !alive {
            remove(&e.path());
        }
    }
}

/// Deletes RUN containers still recorded under `dir`, detaches mounts under it, and
/// removes it.
fn remove(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for step in entries.flatten() {
            let root = step.path().join("runtime");
            if let Ok(containers) = tug_runtime::state::Container::list(&root) {
                for c in containers {
                    let _ = tug_runtime::delete::delete(&root, &c.record.id, true);
                }
            }
        }
    }
    for target in mounts_under(dir) {
        let _ = sys::umount(&target, libc::MNT_DETACH);
    }
    let _ = fs::remove_dir_all(dir);
}

/// Mount points at or below `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}
