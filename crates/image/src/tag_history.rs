//! Every image a tag has named, in order, so a tag can be rolled back to the image it
//! named before (`tug image rollback`) and its sequence shown (`tug image tags-history`).
//!
//! ```text
//! DIR/tag-history.json   {"<full name>": [{"digest", "mediaType", "size", "time"}, ...]}
//! ```
//!
//! Written by [`crate::Store::tag`] inside its `index.lock` critical section (atomic
//! rename), so the history and `index.json` never disagree. The last entry is what the
//! tag names now; images in a history are kept from garbage collection, so a rollback
//! always finds its target.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use oci_spec::image::{Descriptor, MediaType};
use serde::{Deserialize, Serialize};

use crate::digest;
use crate::error::{Error, IoContext, Result};
use crate::layout;

/// One image a tag named, and since when.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub digest: String,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub size: u64,
    pub time: String,
}

impl Entry {
    /// The descriptor of the image this entry names.
    pub fn descriptor(&self) -> Result<Descriptor> {
        Ok(Descriptor::new(
            MediaType::from(self.media_type.as_str()),
            self.size,
            digest::parse(&self.digest)?,
        ))
    }
}

/// The whole file: full tag name → entries, oldest first.
pub type Histories = BTreeMap<String, Vec<Entry>>;

const FILE: &str = "tag-history.json";

/// Reads the histories of the store at `root` (empty when none was written).
pub fn read(root: &Path) -> Result<Histories> {
    let path = root.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::io(format!("failed to parse {}", path.display()), std::io::Error::other(e))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Histories::new()),
        Err(e) => Err(e).ctx("read", &path),
    }
}

fn write(root: &Path, histories: &Histories) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(histories)
        .map_err(|e| Error::Unsupported(format!("cannot serialize tag history: {e}")))?;
    layout::write_atomic(&root.join(FILE), &bytes)
}

/// Appends `target` to `name`'s history unless it is already the last entry. Called
/// under the index lock.
pub(crate) fn record(root: &Path, name: &str, target: &Descriptor) -> Result<()> {
    let mut histories = read(root)?;
    let entries = histories.entry(name.to_string()).or_default();
    if entries.last().is_some_and(|e| e.digest == target.digest().to_string()) {
        return Ok(());
    }
    entries.push(Entry {
        digest: target.digest().to_string(),
        media_type: target.media_type().to_string(),
        size: target.size(),
        time: tug_runtime::state::rfc3339(SystemTime::now()),
    });
    write(root, &histories)
}

/// Drops `name`'s last entry and returns the one before it (the image to name again).
/// Called under the index lock.
pub(crate) fn step_back(root: &Path, name: &str) -> Result<Entry> {
    let mut histories = read(root)?;
    let entries = histories.get_mut(name).filter(|e| e.len() >= 2).ok_or_else(|| {
        Error::Unsupported(format!(
            "{name} has no earlier image to roll back to (see `tug image tags-history {name}`)"
        ))
    })?;
    entries.pop();
    let previous = entries.last().cloned().ok_or_else(|| Error::ImageNotFound(name.to_string()))?;
    write(root, &histories)?;
    Ok(previous)
}

/// Forgets `name`'s history (the tag was removed).
pub(crate) fn forget(root: &Path, name: &str) -> Result<()> {
    let mut histories = read(root)?;
    if histories.remove(name).is_some() {
        write(root, &histories)?;
    }
    Ok(())
}
