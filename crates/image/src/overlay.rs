//! A container's root filesystem: an overlay mount of its image's layer snapshots
//! (read-only lower directories, top layer first) and a private upper and work
//! directory under the container's own directory.
//!
//! ```text
//! CONTAINER_DIR/upper/    the container's changes (overlayfs form: whiteouts are 0:0
//!                         character devices) — `diff::create_layer` makes a layer of it
//! CONTAINER_DIR/work/     overlayfs's scratch directory
//! CONTAINER_DIR/rootfs/   the mount point
//! ```
//!
//! The mount uses `redirect_dir=off` and `metacopy=off`, so every change is a whole
//! file in the upper directory and a renamed directory is copied: what `diff` reads is
//! then the complete change, with no overlay-private metadata to interpret.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::store::{Image, Progress, Store};
use crate::sys;
use crate::unpack::UnpackOptions;

/// An overlay mounted at `target`; unmounted by [`Mount::unmount`] or, failing that,
/// lazily (`MNT_DETACH`) when dropped.
#[derive(Debug)]
pub struct Mount {
    target: PathBuf,
    upper: PathBuf,
    mounted: bool,
}

impl Mount {
    /// The merged root filesystem.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The container's private upper directory (its changes).
    pub fn upper(&self) -> &Path {
        &self.upper
    }

    /// Leaves the overlay mounted past this value's life (a container that outlives
    /// the process that started it); [`unmount`] takes it down later.
    pub fn keep(mut self) {
        self.mounted = false;
    }

    /// Unmounts now, reporting failure (busy, say).
    pub fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        sys::umount(&self.target, 0).map_err(|source| Error::Mount {
            op: "unmount",
            target: self.target.clone(),
            source,
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = sys::umount(&self.target, libc::MNT_DETACH);
        }
    }
}

/// Detaches the overlay mounted at `container_dir/rootfs` (kept by [`Mount::keep`]);
/// nothing happens when none is mounted there.
pub fn unmount(container_dir: &Path) {
    let _ = sys::umount(&container_dir.join("rootfs"), libc::MNT_DETACH);
}

/// Unpacks the image's layers if needed (default [`UnpackOptions`]) and mounts them with
/// a private upper directory at `container_dir/rootfs`.
pub fn mount_rootfs(store: &Store, image: &Image, container_dir: &Path) -> Result<Mount> {
    mount_rootfs_with(
        store,
        image,
        container_dir,
        &UnpackOptions::default(),
        &mut |_| {},
    )
}

/// [`mount_rootfs`] with unpack options and progress reports.
pub fn mount_rootfs_with(
    store: &Store,
    image: &Image,
    container_dir: &Path,
    options: &UnpackOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Mount> {
    let layers = store.unpack(image, options, progress)?;
    mount_layers(&layers, container_dir)
}

/// Mounts `layers` (bottom first) under `container_dir` as described in the module doc.
pub fn mount_layers(layers: &[PathBuf], container_dir: &Path) -> Result<Mount> {
    mount_layers_with(layers, container_dir, false)
}

/// [`mount_layers`]; `volatile` mounts with overlayfs's `volatile` option (no sync of
/// the upper directory, at unmount either, which otherwise costs a filesystem sync):
/// for upper directories thrown away afterwards (`tug run --rm`).
pub fn mount_layers_with(layers: &[PathBuf], container_dir: &Path, volatile: bool) -> Result<Mount> {
    let upper = container_dir.join("upper");
    let work = container_dir.join("work");
    let target = container_dir.join("rootfs");
    for dir in [&upper, &work, &target] {
        fs::create_dir_all(dir).ctx("create", dir)?;
    }
    let mut lower: Vec<PathBuf> = layers.iter().rev().cloned().collect();
    if lower.is_empty() {
        // An image without layers (FROM scratch): overlayfs needs one lower directory.
        let empty = container_dir.join("empty");
        fs::create_dir_all(&empty).ctx("create", &empty)?;
        lower.push(empty);
    }
    let lowerdir = lower
        .iter()
        .map(|p| escape(p))
        .collect::<Vec<_>>()
        .join(":");
    let mut options = format!(
        "lowerdir={lowerdir},upperdir={},workdir={},redirect_dir=off,metacopy=off",
        escape(&upper),
        escape(&work)
    );
    if volatile {
        options.push_str(",volatile");
    }
    // mount(2) takes at most one page of options.
    if options.len() >= 4096 {
        return Err(Error::Unsupported(format!(
            "overlay options for {} layers are {} bytes, over the 4096 mount(2) accepts",
            layers.len(),
            options.len()
        )));
    }
    sys::mount_overlay(&target, &options).map_err(|source| Error::Mount {
        op: "mount",
        target: target.clone(),
        source,
    })?;
    Ok(Mount {
        target,
        upper,
        mounted: true,
    })
}

/// Escapes the characters overlayfs's option parser treats specially.
fn escape(path: &Path) -> String {
    let s = path.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
