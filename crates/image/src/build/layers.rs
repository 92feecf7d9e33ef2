//! Reading an image's file tree from its unpacked layer snapshots without mounting:
//! the topmost snapshot holding a path wins, a whiteout (0:0 character device) hides
//! it. Enough for the build's questions about the image below a step: is the COPY
//! destination a directory, what mode and owner do its parents have, what do
//! `/etc/passwd` and `/etc/group` say.

use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};

use crate::whiteout;

/// The layer snapshots of one image, bottom first.
pub struct Tree<'a> {
    pub snapshots: &'a [PathBuf],
}

impl Tree<'_> {
    /// The host path and metadata of `rel` (relative to the image root) in the image,
    /// or `None` when no layer has it (or an upper layer deleted it, or the path runs
    /// through a symlink).
    pub fn lookup(&self, rel: &Path) -> Option<(PathBuf, Metadata)> {
        for snap in self.snapshots.iter().rev() {
            // A whiteout of the path or of any parent hides it and everything below.
            let mut hidden = false;
            let mut prefix = PathBuf::new();
            let count = rel.components().count();
            for (i, comp) in rel.components().enumerate() {
                prefix.push(comp);
                if let Ok(m) = fs::symlink_metadata(snap.join(&prefix)) {
                    if whiteout::is_overlay_whiteout(&m) {
                        hidden = true;
                        break;
                    }
                    // Never follow a symlink out of the snapshot onto the host: a path
                    // through one is not answered here.
                    if m.file_type().is_symlink() && i + 1 < count {
                        return None;
                    }
                }
            }
            if hidden {
                return None;
            }
            let path = snap.join(rel);
            if let Ok(m) = fs::symlink_metadata(&path) {
                return Some((path, m));
            }
        }
        None
    }

    /// The contents of a regular file in the image, if it has one there.
    pub fn read(&self, rel: &str) -> Option<String> {
        let (path, m) = self.lookup(Path::new(rel))?;
        if !m.is_file() {
            return None;
        }
        fs::read_to_string(path).ok()
    }
}
