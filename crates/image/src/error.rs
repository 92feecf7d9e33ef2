//! The crate's error type: every variant names the digest, reference, path or archive
//! entry at fault.

use std::io;
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation failed; `context` says which and on what path.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// A blob is not in the store.
    #[error("blob {0} not found")]
    BlobNotFound(Digest),
    /// Content did not hash to the digest it was announced with.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    /// Content did not have the size it was announced with.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// A digest string is malformed or uses an algorithm the store does not hold.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest { input: String, reason: String },
    /// An image reference (`name[:tag][@digest]`) is malformed.
    #[error("invalid reference {input:?}: {reason}")]
    InvalidReference { input: String, reason: String },
    /// No image has this name or digest.
    #[error("image {0} not found")]
    ImageNotFound(String),
    /// A manifest, index or config blob is not what it claims to be.
    #[error("invalid {what} {digest}: {reason}")]
    InvalidContent {
        what: &'static str,
        digest: Digest,
        reason: String,
    },
    /// A layer archive entry was refused (escapes the target, writes through a
    /// symlink, device node not allowed, ...).
    #[error("refused layer entry {entry:?}: {reason}")]
    UnsafeEntry { entry: String, reason: String },
    /// An image archive (OCI layout, oci-archive, docker-archive) is malformed.
    #[error("invalid image archive {archive}: {reason}")]
    InvalidArchive { archive: String, reason: String },
    /// A registry could not be reached, refused a request or sent something unusable.
    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },
    /// Something the store does not support (yet).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Mounting or unmounting an overlay failed.
    #[error("failed to {op} overlay at {target}: {source}")]
    Mount {
        op: &'static str,
        target: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A Containerfile has a syntax error or an instruction that cannot be carried out.
    #[error("{file}:{line}: {message}")]
    Containerfile {
        file: String,
        line: usize,
        message: String,
    },
    /// A RUN step's command failed; `at` is `FILE:LINE: ` when known.
    #[error("{at}the command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        at: String,
        command: String,
        code: i32,
    },
    /// A build step failed for a reason that is not the Containerfile's syntax.
    #[error("{0}")]
    Build(String),
    /// The container runtime failed to run a RUN step.
    #[error("runtime: {0}")]
    Runtime(#[from] tug_runtime::Error),
}

impl Error {
    /// An I/O error with its context.
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// True when this error means "not found" (a missing blob, image or file).
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::BlobNotFound(_) | Error::ImageNotFound(_) => true,
            Error::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

/// Adds context (an action and a path) to I/O results.
pub(crate) trait IoContext<T> {
    fn ctx(self, action: &str, path: &Path) -> Result<T>;
    fn with_ctx(self, f: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(format!("failed to {action} {}", path.display()), e))
    }

    fn with_ctx(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
}
