//! A container's changes as a new image (`tug commit`): its overlay upper directory
//! becomes one more layer on top of its image's, with a history entry saying so; the
//! image's config (command, environment, ...) is kept.

use std::path::Path;

use oci_spec::image::Descriptor;

use crate::build::config::push_history;
use crate::diff::{create_layer, LayerCompression};
use crate::error::{Error, Result};
use crate::store::{Image, Store};

/// What the history entry of a commit says.
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// The command the container ran (Docker records it as `created_by`).
    pub created_by: String,
    pub author: Option<String>,
    pub message: Option<String>,
}

/// Writes `upper` (a container's changes over `image`) as a new layer and stores an
/// image of `image`'s layers plus that one. Returns its manifest's descriptor, to tag.
pub fn commit(store: &Store, image: &Image, upper: &Path, options: &CommitOptions) -> Result<Descriptor> {
    let _hold = store.hold()?;
    let mut config: serde_json::Value = serde_json::from_slice(&store.read_blob(image.id())?)
        .map_err(|e| Error::InvalidContent { what: "image config", digest: image.id().clone(), reason: e.to_string() })?;
    let mut layers = image.layers()?;
    layers.push(create_layer(store, upper, LayerCompression::Gzip)?);
    push_history(&mut config, &options.created_by, false);
    if let Some(entry) = config["history"].as_array_mut().and_then(|h| h.last_mut()) {
        if let Some(author) = &options.author {
            entry["author"] = author.as_str().into();
        }
        if let Some(message) = &options.message {
            entry["comment"] = message.as_str().into();
        }
    }
    if let Some(author) = &options.author {
        config["author"] = author.as_str().into();
    }
    let descriptor = store.write_image_json(&config, &layers)?;
    store.add_untagged(&descriptor)?;
    Ok(descriptor)
}
