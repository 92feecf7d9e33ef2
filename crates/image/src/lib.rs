//! The image store: everything about OCI images on one machine, below any container.
//!
//! This room owns the data under the image data directory (by default
//! `/var/lib/tug/image`): a content-addressed store that is itself an OCI image layout
//! (blobs by sha256, manifests, indexes, configs, and tags in `index.json`), each layer
//! unpacked once into an overlayfs-ready snapshot, and the overlay mounts that make a
//! container's root filesystem from them. It imports and exports images as OCI layout
//! directories, `oci-archive` tarballs and `docker save` archives, and turns an overlay
//! upper directory back into a layer (for commit and build).
//!
//! Map:
//! - [`store`]: the [`Store`] (blobs, manifests, configs, tags, images, prune, unpack);
//! - [`digest`], [`reference`], [`layout`]: content addresses, image names, the OCI
//!   layout on disk;
//! - [`unpack`] and [`whiteout`]: layer tar → snapshot, refusing hostile entries;
//! - [`diff`]: directory / overlay upper dir → layer tar with OCI whiteouts;
//! - [`overlay`]: a container's root filesystem as an overlay mount;
//! - [`changes`], [`commit`], [`tag_history`]: what a container or image changed (A/C/D),
//!   a container's changes as a new image, every image a tag named (rollback);
//! - [`archive`]: OCI layout, oci-archive and docker-archive import/export;
//! - [`registry`]: pull and push over the OCI distribution API (Basic and token auth,
//!   chunked uploads, cross-repository mounts);
//! - [`build`]: Containerfile builds with a layer cache; RUN steps run in containers of
//!   `tug-runtime`, the one other Tugboat crate this one calls.
//!
//! It knows nothing of Kubernetes. Its long operations take progress callbacks so a CLI
//! can draw progress bars without this crate printing anything (a RUN step's own output
//! goes to the inherited stdout and stderr).

pub mod archive;
pub mod build;
pub mod changes;
pub mod commit;
pub mod diff;
pub mod digest;
pub mod error;
pub mod layout;
mod lock;
pub mod overlay;
pub mod reference;
pub mod registry;
pub mod store;
mod sys;
pub mod tag_history;
pub mod unpack;
pub mod whiteout;

pub use error::{Error, Result};
pub use reference::Reference;
pub use store::{Image, ImageSummary, Progress, PruneOptions, PruneReport, Store};
pub use unpack::{DevicePolicy, UnpackOptions};

/// Where image data lives unless `--data-dir` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/tug/image";

/// A name unique within this machine for temporary files: pid, a counter, nanoseconds.
pub(crate) fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{n}-{nanos}", std::process::id())
}

/// This machine's architecture as OCI names it (`amd64`, `arm64`, ...).
pub fn platform_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}
