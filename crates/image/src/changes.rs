//! What changed, as Docker lists it (`A` added, `C` changed, `D` deleted, one absolute
//! path per line, sorted): a container's overlay upper directory against its image's
//! layers (`tug diff`), and one image's file tree against another's (`tug image diff`).
//!
//! A container's list comes straight from its upper directory: a whiteout is a
//! deletion, an entry the image has is a change (directories holding changes included,
//! as Docker shows them), any other entry an addition (with everything below it). Two images are compared on their
//! flattened trees (snapshots stacked bottom first, whiteouts and opaque directories
//! applied): type, mode, owner, size, link target and, for regular files of equal size
//! from different layers, the bytes. Directory timestamps are not compared, so a
//! directory is listed only when the directory itself changed.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::build::layers::Tree;
use crate::error::{IoContext, Result};
use crate::whiteout;

/// The kind of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Added,
    Changed,
    Deleted,
}

/// One changed path (absolute, as seen in the container).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub path: String,
    pub kind: Kind,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let letter = match self.kind {
            Kind::Added => 'A',
            Kind::Changed => 'C',
            Kind::Deleted => 'D',
        };
        write!(f, "{letter} {}", self.path)
    }
}

/// The changes in a container's `upper` directory over its image's `snapshots` (bottom first).
pub fn container_changes(upper: &Path, snapshots: &[PathBuf]) -> Result<Vec<Change>> {
    let tree = Tree { snapshots };
    let mut out = Vec::new();
    walk(upper, Path::new(""), &mut |rel, meta| {
        let kind = if whiteout::is_overlay_whiteout(meta) {
            Kind::Deleted
        } else if tree.lookup(rel).is_some() {
            Kind::Changed
        } else {
            Kind::Added
        };
        out.push(Change { path: absolute(rel), kind });
        // Below a whiteout there is nothing more to tell.
        kind != Kind::Deleted
    })?;
    out.sort();
    Ok(out)
}

/// The changes that turn image `a` (its snapshots, bottom first) into image `b`.
pub fn image_changes(a: &[PathBuf], b: &[PathBuf]) -> Result<Vec<Change>> {
    let (old, new) = (flatten(a)?, flatten(b)?);
    let mut out = Vec::new();
    for (path, (old_host, old_meta)) in &old {
        match new.get(path) {
            None => out.push(Change { path: path.clone(), kind: Kind::Deleted }),
            Some((new_host, new_meta)) => {
                if differ(old_host, old_meta, new_host, new_meta)? {
                    out.push(Change { path: path.clone(), kind: Kind::Changed });
                }
            }
        }
    }
    for path in new.keys().filter(|p| !old.contains_key(*p)) {
        out.push(Change { path: path.clone(), kind: Kind::Added });
    }
    // A deleted directory's contents are implied, as a container's whiteout lists them.
    out.sort();
    let deleted: std::collections::BTreeSet<String> =
        out.iter().filter(|c| c.kind == Kind::Deleted).map(|c| c.path.clone()).collect();
    let kept: Vec<Change> = out
        .into_iter()
        .filter(|c| {
            c.kind != Kind::Deleted
                || !Path::new(&c.path).ancestors().skip(1).any(|a| deleted.contains(&a.display().to_string()))
        })
        .collect();
    Ok(kept)
}

fn absolute(rel: &Path) -> String {
    format!("/{}", rel.display())
}

/// Calls `visit` for every entry below `dir` (parents first); descends into a
/// directory when `visit` returns true.
fn walk(root: &Path, rel: &Path, visit: &mut dyn FnMut(&Path, &Metadata) -> bool) -> Result<()> {
    let dir = root.join(rel);
    let mut entries: Vec<_> = fs::read_dir(&dir).ctx("read", &dir)?.collect::<std::io::Result<_>>().ctx("read", &dir)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let child = rel.join(entry.file_name());
        let meta = entry.metadata().ctx("stat", &entry.path())?;
        if visit(&child, &meta) && meta.is_dir() {
            walk(root, &child, visit)?;
        }
    }
    Ok(())
}

/// The image's tree: absolute path → the host file that provides it.
fn flatten(snapshots: &[PathBuf]) -> Result<BTreeMap<String, (PathBuf, Metadata)>> {
    let mut tree: BTreeMap<String, (PathBuf, Metadata)> = BTreeMap::new();
    for snap in snapshots {
        let mut found = Vec::new();
        walk(snap, Path::new(""), &mut |rel, meta| {
            found.push((rel.to_path_buf(), meta.clone()));
            true
        })?;
        for (rel, meta) in found {
            let path = absolute(&rel);
            let below = format!("{path}/");
            let opaque = meta.is_dir() && whiteout::is_opaque(&snap.join(&rel)).unwrap_or(false);
            if whiteout::is_overlay_whiteout(&meta) || opaque || !meta.is_dir() {
                tree.retain(|p, _| !p.starts_with(&below));
            }
            if whiteout::is_overlay_whiteout(&meta) {
                tree.remove(&path);
            } else {
                tree.insert(path, (snap.join(&rel), meta));
            }
        }
    }
    Ok(tree)
}

fn differ(a: &Path, am: &Metadata, b: &Path, bm: &Metadata) -> Result<bool> {
    if am.file_type() != bm.file_type()
        || am.mode() != bm.mode()
        || am.uid() != bm.uid()
        || am.gid() != bm.gid()
        || am.rdev() != bm.rdev()
    {
        return Ok(true);
    }
    if am.file_type().is_symlink() {
        return Ok(fs::read_link(a).ctx("read", a)? != fs::read_link(b).ctx("read", b)?);
    }
    if !am.is_file() {
        return Ok(false);
    }
    if am.size() != bm.size() {
        return Ok(true);
    }
    if a == b {
        return Ok(false);
    }
    same_bytes(a, b).map(|same| !same)
}

fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    let (mut fa, mut fb) = (fs::File::open(a).ctx("open", a)?, fs::File::open(b).ctx("open", b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = fa.read(&mut ba).ctx("read", a)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n]).ctx("read", b)?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_compare_on_flattened_trees() {
        let dir = tempfile::tempdir().unwrap();
        let (l1, l2) = (dir.path().join("l1"), dir.path().join("l2"));
        for d in ["etc", "usr/share"] {
            fs::create_dir_all(l1.join(d)).unwrap();
        }
        fs::write(l1.join("etc/keep"), "same").unwrap();
        fs::write(l1.join("etc/edit"), "old!").unwrap();
        fs::write(l1.join("usr/share/doc"), "x").unwrap();
        fs::create_dir_all(l2.join("etc")).unwrap();
        fs::write(l2.join("etc/edit"), "new!").unwrap();
        fs::write(l2.join("etc/added"), "a").unwrap();
        fs::write(l2.join("etc/keep"), "same").unwrap();
        let base = vec![l1.clone()];
        let mut changed = base.clone();
        changed.push(l2);
        let listed: Vec<String> = image_changes(&base, &changed).unwrap().iter().map(|c| c.to_string()).collect();
        assert_eq!(listed, ["A /etc/added", "C /etc/edit"]);
        let back: Vec<String> = image_changes(&changed, &base).unwrap().iter().map(|c| c.to_string()).collect();
        assert_eq!(back, ["D /etc/added", "C /etc/edit"]);
    }
}
