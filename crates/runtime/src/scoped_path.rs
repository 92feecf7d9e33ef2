//! Resolving a path inside a container's root filesystem the way the kernel would after
//! pivot_root: symlinks (absolute or relative) and `..` are followed but can never leave
//! the root. Used for every mount destination and device path, so a hostile image cannot
//! make the runtime mount over host files.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

const MAX_SYMLINKS: usize = 255;

/// Returns `root` joined with `path`, with every symlink on the way resolved inside `root`.
/// Components that do not exist yet are taken literally.
pub fn resolve(root: &Path, path: &Path) -> io::Result<PathBuf> {
    let mut pending: VecDeque<OsString> = components(path);
    let mut inside = PathBuf::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            inside.pop();
            continue;
        }
        let candidate = root.join(&inside).join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    inside.clear();
                }
                for (i, c) in components(&target).into_iter().enumerate() {
                    pending.insert(i, c);
                }
            }
            _ => inside.push(part),
        }
    }
    Ok(root.join(inside))
}

fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tug-scoped-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        dir
    }

    #[test]
    fn dot_dot_stops_at_the_root() {
        let root = tempdir("dotdot");
        assert_eq!(resolve(&root, Path::new("/../../etc/passwd")).unwrap(), root.join("etc/passwd"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn absolute_symlinks_resolve_inside_the_root() {
        let root = tempdir("abs");
        symlink("/etc", root.join("link")).unwrap();
        assert_eq!(resolve(&root, Path::new("/link/shadow")).unwrap(), root.join("etc/shadow"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn relative_symlinks_cannot_climb_out() {
        let root = tempdir("rel");
        symlink("../../../../../etc", root.join("etc/up")).unwrap();
        assert_eq!(resolve(&root, Path::new("etc/up/passwd")).unwrap(), root.join("etc/passwd"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn symlink_loops_are_refused() {
        let root = tempdir("loop");
        symlink("/b", root.join("a")).unwrap();
        symlink("/a", root.join("b")).unwrap();
        assert_eq!(resolve(&root, Path::new("/a/x")).unwrap_err().raw_os_error(), Some(libc::ELOOP));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
