//! OCI image layouts in and out: a directory, or a tar of one (`oci-archive`).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use oci_spec::image::{Descriptor, Digest, ImageIndex};

use super::{append_dir, append_file, select, ArchiveFiles, LoadOptions, Loaded, Selected};
use crate::error::{Error, IoContext, Result};
use crate::layout::{self, kind_of, Kind, CONTAINERD_NAME_ANNOTATION, REF_NAME_ANNOTATION};
use crate::reference::Reference;
use crate::store::Store;

/// Writes the images as an OCI image layout in `dir` (created, or added to if it is a
/// layout already).
pub fn export_dir(store: &Store, images: &[&str], dir: &Path) -> Result<()> {
    let selected = select(store, images)?;
    layout::init(dir)?;
    layout::check_marker(dir)?;
    let mut index = layout::read_index(dir)?;
    for blob in closure(store, &selected)? {
        let dest = dir.join(layout::blob_relpath(&blob)?);
        if !dest.exists() {
            let tmp = dest.with_extension(format!("tmp-{}", crate::unique_suffix()));
            fs::copy(store.blob_path(&blob)?, &tmp).ctx("copy blob to", &tmp)?;
            fs::rename(&tmp, &dest).ctx("rename into place", &dest)?;
        }
    }
    let mut entries = index.manifests().clone();
    for s in &selected {
        let entry = index_entry(s);
        let name = s.name.as_ref().map(|n| n.to_string());
        entries.retain(|e| !(name.is_some() && crate::store::ref_name(e) == name.as_deref()));
        entries.push(entry);
    }
    index.set_manifests(entries);
    layout::write_index(dir, &index)
}

/// Writes the images as an `oci-archive` tar to `out`.
pub fn export_archive(store: &Store, images: &[&str], out: impl Write) -> Result<()> {
    let selected = select(store, images)?;
    let mut index = layout::empty_index();
    index.set_manifests(selected.iter().map(index_entry).collect());
    let index_bytes = serde_json::to_vec(&index)
        .map_err(|e| Error::io("failed to serialize index.json", std::io::Error::other(e)))?;
    let mut tar = tar::Builder::new(out);
    let marker = layout::OCI_LAYOUT_CONTENT.as_bytes();
    append_file(
        &mut tar,
        layout::OCI_LAYOUT_FILE,
        marker.len() as u64,
        marker,
    )?;
    append_file(
        &mut tar,
        layout::INDEX_FILE,
        index_bytes.len() as u64,
        &index_bytes[..],
    )?;
    append_dir(&mut tar, "blobs")?;
    append_dir(&mut tar, "blobs/sha256")?;
    for blob in closure(store, &selected)? {
        let file = store.open_blob(&blob)?;
        let size = file
            .metadata()
            .with_ctx(|| format!("failed to stat blob {blob}"))?
            .len();
        let path = layout::blob_relpath(&blob)?;
        append_file(&mut tar, &path.to_string_lossy(), size, file)?;
    }
    tar.into_inner()
        .with_ctx(|| "failed to finish archive".into())?
        .flush()
        .with_ctx(|| "failed to flush archive".into())
}

/// The `index.json` entry for an exported image: its name (full form) under both
/// annotations tools read.
fn index_entry(s: &Selected) -> Descriptor {
    let mut d = s.top.clone();
    d.set_annotations(s.name.as_ref().map(|n| {
        HashMap::from([
            (REF_NAME_ANNOTATION.to_string(), n.to_string()),
            (CONTAINERD_NAME_ANNOTATION.to_string(), n.to_string()),
        ])
    }));
    d
}

/// Every blob the selected images reach that the store holds, each once, in a
/// stable order (manifests and indexes before what they refer to).
fn closure(store: &Store, selected: &[Selected]) -> Result<Vec<Digest>> {
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut stack: Vec<Descriptor> = selected.iter().rev().map(|s| s.top.clone()).collect();
    while let Some(d) = stack.pop() {
        if !seen.insert(d.digest().clone()) {
            continue;
        }
        if !store.has_blob(d.digest()) {
            continue; // another platform's manifest of an index
        }
        let kind = kind_of(d.media_type());
        if matches!(kind, Kind::Manifest | Kind::Index) {
            let bytes = store.read_blob(d.digest())?;
            let mut children = layout::children(kind, d.digest(), &bytes)?;
            children.reverse();
            stack.extend(children);
        }
        order.push(d.digest().clone());
    }
    Ok(order)
}

/// Imports every image of the OCI layout at `dir`.
pub fn import_dir(store: &Store, dir: &Path, options: &LoadOptions) -> Result<Vec<Loaded>> {
    let _hold = store.hold()?;
    layout::check_marker(dir)?;
    let index = layout::read_index(dir)?;
    let origin = dir.display().to_string();
    for entry in index.manifests() {
        copy_closure(store, dir, entry, &origin)?;
    }
    tag_entries(store, &index, options)
}

/// Copies what `top` reaches from a layout directory, verifying each blob.
fn copy_closure(store: &Store, dir: &Path, top: &Descriptor, origin: &str) -> Result<()> {
    let mut stack = vec![(top.clone(), Kind::Other)];
    let mut seen = HashSet::new();
    while let Some((d, parent)) = stack.pop() {
        if !seen.insert(d.digest().clone()) {
            continue;
        }
        let path = dir.join(layout::blob_relpath(d.digest())?);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(_) if parent == Kind::Index => continue, // other platforms may be absent
            Err(_) => {
                return Err(Error::InvalidArchive {
                    archive: origin.to_string(),
                    reason: format!("blob {} is missing", d.digest()),
                })
            }
        };
        store.put_blob_for(file, &d)?;
        let kind = kind_of(d.media_type());
        if matches!(kind, Kind::Manifest | Kind::Index) {
            let bytes = store.read_blob(d.digest())?;
            stack.extend(
                layout::children(kind, d.digest(), &bytes)?
                    .into_iter()
                    .map(|c| (c, kind)),
            );
        }
    }
    Ok(())
}

/// Imports from the files of an oci-archive (see `archive::load`).
pub(crate) fn import_files(
    store: &Store,
    files: &ArchiveFiles,
    options: &LoadOptions,
) -> Result<Vec<Loaded>> {
    if let Some(marker) = files.small.get(Path::new(layout::OCI_LAYOUT_FILE)) {
        layout::check_marker_bytes("input", marker)?;
    }
    let index_bytes = &files.small[Path::new(layout::INDEX_FILE)];
    let index = layout::parse_index("input", index_bytes)?;
    // Everything the entries reach must have come in the archive (blobs go straight
    // into the store as they stream by).
    for entry in index.manifests() {
        let mut stack = vec![(entry.clone(), Kind::Other)];
        let mut seen = HashSet::new();
        while let Some((d, parent)) = stack.pop() {
            if !seen.insert(d.digest().clone()) {
                continue;
            }
            if !store.has_blob(d.digest()) {
                if parent == Kind::Index {
                    continue;
                }
                return Err(files.invalid(&format!("blob {} is missing", d.digest())));
            }
            let kind = kind_of(d.media_type());
            if matches!(kind, Kind::Manifest | Kind::Index) {
                let bytes = store.read_blob(d.digest())?;
                stack.extend(
                    layout::children(kind, d.digest(), &bytes)?
                        .into_iter()
                        .map(|c| (c, kind)),
                );
            }
        }
    }
    tag_entries(store, &index, options)
}

fn tag_entries(store: &Store, index: &ImageIndex, options: &LoadOptions) -> Result<Vec<Loaded>> {
    let mut loaded = Vec::new();
    for entry in index.manifests() {
        let name = entry_name(entry, options)?;
        let mut descriptor = entry.clone();
        descriptor.set_annotations(None);
        match &name {
            Some(n) => {
                store.tag(n, &descriptor)?;
            }
            None => store.add_untagged(&descriptor)?,
        }
        loaded.push(Loaded { name, descriptor });
    }
    Ok(loaded)
}

/// The name of a layout entry (see the module doc of `archive`).
fn entry_name(entry: &Descriptor, options: &LoadOptions) -> Result<Option<Reference>> {
    let annotations = entry.annotations().clone().unwrap_or_default();
    if let Some(full) = annotations.get(CONTAINERD_NAME_ANNOTATION) {
        return Reference::parse(full).map(Some);
    }
    let Some(ref_name) = annotations.get(REF_NAME_ANNOTATION) else {
        return Ok(None);
    };
    if ref_name.contains('/') || ref_name.contains(':') {
        if let Ok(r) = Reference::parse(ref_name) {
            return Ok(Some(r));
        }
    }
    match &options.repository {
        Some(repo) => repo.with_tag(ref_name).map(Some),
        None => Ok(None),
    }
}
