//! The few host-side cleanups of a pod: unmounting a container's root filesystem
//! and removing the pod's cgroup directories (every v1 hierarchy, or the unified one).

use std::path::Path;

/// Unmounts `target` (lazily, so a busy mount never blocks teardown); nothing if not mounted.
pub fn unmount(target: &Path) {
    use std::os::unix::ffi::OsStrExt;
    if let Ok(c) = std::ffi::CString::new(target.as_os_str().as_bytes()) {
        // SAFETY: c is a NUL-terminated path.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Removes the cgroup `path` (relative to each hierarchy's root) with its empty children,
/// then its ancestors that are left empty (the node's and the shared `/tug` parent).
pub fn remove_cgroup(path: &str) {
    let relative = path.trim_start_matches('/');
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else { return };
    let mut roots: Vec<std::path::PathBuf> = hierarchies.flatten().map(|e| e.path()).collect();
    roots.push("/sys/fs/cgroup".into());
    for root in roots {
        let dir = root.join(relative);
        if dir.is_dir() {
            remove_tree(&dir);
        }
        // rmdir fails on a cgroup that still has children or processes: that ends the walk.
        let mut parent = dir.parent();
        while let Some(p) = parent.filter(|p| *p != root.as_path()) {
            if std::fs::remove_dir(p).is_err() {
                break;
            }
            parent = p.parent();
        }
    }
}

/// cgroup directories are removed leaves first with rmdir (their files cannot be unlinked).
fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}
