//! The small filesystem surface the engine reads through, so tests can
//! substitute an in-memory tree and the engine itself does no other IO.

use std::path::{Path, PathBuf};

use crate::error::{KustomizeError, Result};

/// Read-only access to the files of a kustomization tree.
pub trait FileSystem {
    /// The bytes of a file.
    fn read(&self, path: &Path) -> Result<Vec<u8>>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &Path) -> bool;
    /// A canonical form of `path`, used for cycle detection and load restrictions.
    fn canonical(&self, path: &Path) -> Result<PathBuf>;
}

/// The real disk.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiskFs;

impl FileSystem for DiskFs {
    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(|error| KustomizeError::Io {
            path: path.to_path_buf(),
            error,
        })
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn canonical(&self, path: &Path) -> Result<PathBuf> {
        path.canonicalize().map_err(|error| KustomizeError::Io {
            path: path.to_path_buf(),
            error,
        })
    }
}

/// Reads a file as UTF-8 text.
pub(crate) fn read_text(fs: &dyn FileSystem, path: &Path) -> Result<String> {
    let bytes = fs.read(path)?;
    String::from_utf8(bytes).map_err(|_| KustomizeError::invalid(path, "file is not valid UTF-8"))
}
