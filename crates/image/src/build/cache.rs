//! The build cache: a step's key (the previous step's key, the instruction after
//! expansion, and for COPY/ADD the sources' content hash) → the image state after the
//! step (config and layers), one small JSON file per key under `<store>/build-cache/`.
//! An entry whose layer blobs were pruned since is a miss.

use std::fs;
use std::path::PathBuf;

use oci_spec::image::{Descriptor, Digest};
use serde::{Deserialize, Serialize};

use crate::digest::{self, sha256_hex};
use crate::error::Result;
use crate::layout::write_atomic;
use crate::store::Store;

/// The image as it stands after a step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    /// The image config as JSON (Docker's fields included).
    pub config: serde_json::Value,
    /// Layer blobs with their diff-ids, bottom first.
    pub layers: Vec<(Descriptor, Digest)>,
}

/// The key of a step after `parent`.
pub fn key(parent: &Digest, step: &str) -> Digest {
    digest::of_bytes(format!("{parent}\n{step}").as_bytes())
}

fn path(store: &Store, key: &Digest) -> Result<PathBuf> {
    Ok(store
        .root()
        .join("build-cache")
        .join(format!("{}.json", sha256_hex(key)?)))
}

/// The cached state for `key`, when present and its blobs are still in the store.
pub fn get(store: &Store, key: &Digest) -> Option<State> {
    let bytes = fs::read(path(store, key).ok()?).ok()?;
    let state: State = serde_json::from_slice(&bytes).ok()?;
    state
        .layers
        .iter()
        .all(|(d, _)| store.has_blob(d.digest()))
        .then_some(state)
}

/// Records the state a step produced.
pub fn put(store: &Store, key: &Digest, state: &State) -> Result<()> {
    let path = path(store, key)?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)
            .map_err(|e| crate::Error::io(format!("failed to create {}", dir.display()), e))?;
    }
    let bytes = serde_json::to_vec(state)
        .map_err(|e| crate::Error::Build(format!("cannot serialize cache entry: {e}")))?;
    write_atomic(&path, &bytes)
}
