//! Where blobs came from and went to: for each blob digest, the registry repositories
//! known to hold it (`127.0.0.1:5000/app`), so a push to another repository of the same
//! registry can ask for a cross-repository mount instead of uploading.
//!
//! Kept in `DIR/registry-sources.json` beside the store's layout. It is a hint only: a
//! wrong entry costs one refused mount, after which the blob is uploaded. Entries for
//! blobs the store no longer holds are dropped whenever the file is written.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::image::Digest;

use crate::error::Result;
use crate::lock::FileLock;
use crate::store::Store;

const FILE: &str = "registry-sources.json";
const LOCK: &str = "registry-sources.lock";
/// Repositories remembered per blob (the most recent ones).
const PER_BLOB: usize = 8;

type Sources = BTreeMap<String, Vec<String>>;

fn path(store: &Store) -> PathBuf {
    store.root().join(FILE)
}

fn read(store: &Store) -> Sources {
    std::fs::read(path(store))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Repository paths on `registry` (other than `except`) known to hold `digest`, most
/// recent first.
pub(crate) fn lookup(store: &Store, registry: &str, digest: &Digest, except: &str) -> Vec<String> {
    let prefix = format!("{registry}/");
    read(store)
        .remove(digest.as_ref())
        .unwrap_or_default()
        .into_iter()
        .rev()
        .filter_map(|r| r.strip_prefix(&prefix).map(str::to_string))
        .filter(|p| p != except)
        .collect()
}

/// Records that `registry`/`repo` holds each of `digests`.
pub(crate) fn record(store: &Store, registry: &str, repo: &str, digests: &[Digest]) -> Result<()> {
    let _lock = FileLock::exclusive(&store.root().join(LOCK))?;
    let mut sources = read(store);
    let full = format!("{registry}/{repo}");
    for d in digests {
        let list = sources.entry(d.to_string()).or_default();
        list.retain(|r| *r != full);
        list.push(full.clone());
        if list.len() > PER_BLOB {
            list.drain(..list.len() - PER_BLOB);
        }
    }
    sources.retain(|d, _| crate::digest::parse(d).is_ok_and(|d| store.has_blob(&d)));
    let bytes = serde_json::to_vec(&sources).map_err(|e| {
        crate::Error::io(
            "failed to serialize registry sources",
            std::io::Error::other(e),
        )
    })?;
    crate::layout::write_atomic(&path(store), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_repositories_are_found_per_registry_most_recent_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (d, _) = store.put_bytes(b"layer").unwrap();
        let (gone, _) = (crate::digest::of_bytes(b"not stored"), 0);
        record(&store, "r:5000", "a", std::slice::from_ref(&d)).unwrap();
        record(&store, "r:5000", "b", &[d.clone(), gone.clone()]).unwrap();
        record(&store, "other:5000", "c", std::slice::from_ref(&d)).unwrap();
        assert_eq!(lookup(&store, "r:5000", &d, "x"), vec!["b", "a"]);
        assert_eq!(lookup(&store, "r:5000", &d, "b"), vec!["a"]);
        assert!(lookup(&store, "r:5000", &gone, "x").is_empty());
    }
}
