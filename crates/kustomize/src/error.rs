//! Errors of a build. Every error names the file it came from.

use std::path::PathBuf;

/// Why a `kustomize build` failed.
#[derive(Debug, thiserror::Error)]
pub enum KustomizeError {
    /// A file or directory could not be read.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A file is not valid YAML (the message carries line and column).
    #[error("{}: invalid yaml: {message}", path.display())]
    Yaml { path: PathBuf, message: String },
    /// A file parsed but its content is not what kustomize expects there.
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// A directory has no kustomization file.
    #[error("{}: no kustomization.yaml, kustomization.yml or Kustomization found", path.display())]
    NoKustomization { path: PathBuf },
    /// Kustomizations include each other in a loop.
    #[error("cycle between kustomizations: {chain}")]
    Cycle { chain: String },
    /// A patch without an explicit target matched no resource.
    #[error("{}: patch matches no resource: {target}", path.display())]
    PatchNoMatch { path: PathBuf, target: String },
    /// A JSON 6902 operation could not be applied.
    #[error("{}: json patch op '{op}' on {pointer} in {resource}: {message}", path.display())]
    JsonPatch {
        path: PathBuf,
        op: String,
        pointer: String,
        resource: String,
        message: String,
    },
    /// A field or resource kind this engine does not support.
    #[error("{}: {what} is not supported", path.display())]
    Unsupported { path: PathBuf, what: String },
}

impl KustomizeError {
    pub(crate) fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        KustomizeError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, KustomizeError>;
