//! Moving images in and out of the store as files: OCI image layout directories,
//! `oci-archive` tarballs (a layout in a tar) and `docker save` archives
//! (`manifest.json` + `repositories` + config and layer tars).
//!
//! Loading reads a tar stream once, in any order: blobs named by digest
//! (`blobs/sha256/<hex>`) are verified and stored as they come, other files (Docker's
//! `<id>/layer.tar`, `<hex>.json`) wait in the ingest area until `manifest.json` says
//! what they are; whatever no image uses is discarded. A gzip-compressed archive is
//! accepted as `docker load` does. The format is told by what the archive holds:
//! `manifest.json` means docker-archive (Docker 25+ archives hold a layout too; either
//! reading gives the same images), otherwise `index.json` means oci-archive.
//!
//! Names: an OCI layout entry is named by `io.containerd.image.name`, else by
//! `org.opencontainers.image.ref.name` when that is a full reference; a bare tag there
//! (`latest`, as `skopeo copy oci:DIR:latest` writes) needs [`LoadOptions::repository`],
//! else the image is kept unnamed. Exported layouts carry the full name in both.

pub mod docker;
pub mod oci;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use oci_spec::image::{Descriptor, Digest};

use crate::digest;
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;
use crate::store::{Image, Ingested, Store};

/// Archive formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An OCI image layout in a tar (`oci-archive`).
    OciArchive,
    /// `docker save` format.
    DockerArchive,
}

/// Options for [`load`].
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The repository for OCI entries named by a bare tag (`ref.name` = `latest`).
    pub repository: Option<Reference>,
}

/// An image that [`load`] put in the store.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The name it was tagged with; `None` when it is kept unnamed.
    pub name: Option<Reference>,
    /// Its manifest (or index) in the store.
    pub descriptor: Descriptor,
}

/// An image chosen for export, with the name it is exported under (if any).
pub(crate) struct Selected {
    pub name: Option<Reference>,
    pub image: Image,
    /// What the name points at in the store: the manifest, or an index over it.
    pub top: Descriptor,
}

/// Resolves the `images` to export (names, digests or IDs as [`Store::resolve`] takes).
pub(crate) fn select(store: &Store, images: &[&str]) -> Result<Vec<Selected>> {
    if images.is_empty() {
        return Err(Error::Unsupported(
            "nothing to export: no image named".into(),
        ));
    }
    images
        .iter()
        .map(|input| {
            let (name, top) = store.resolve(input)?;
            let image = store.image(input)?;
            let name = name.filter(|n| n.tag().is_some() && n.digest().is_none());
            Ok(Selected { name, image, top })
        })
        .collect()
}

/// Writes the images to `out` in `format`.
pub fn save(store: &Store, images: &[&str], format: Format, out: impl Write) -> Result<()> {
    match format {
        Format::OciArchive => oci::export_archive(store, images, out),
        Format::DockerArchive => docker::export_archive(store, images, out),
    }
}

/// Reads an image archive (oci-archive or docker-archive, plain or gzip) and adds its
/// images to the store, tagging those with names.
pub fn load(store: &Store, input: impl Read, options: &LoadOptions) -> Result<Vec<Loaded>> {
    let _hold = store.hold()?;
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let head = reader
        .fill_buf()
        .with_ctx(|| "failed to read image archive".into())?;
    let stream: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut files = ArchiveFiles::read(store, stream)?;
    if files.small.contains_key(Path::new("manifest.json")) {
        docker::import(store, &mut files)
    } else if files
        .small
        .contains_key(Path::new(crate::layout::INDEX_FILE))
    {
        oci::import_files(store, &files, options)
    } else {
        Err(files
            .invalid("neither manifest.json (docker-archive) nor index.json (oci-archive) found"))
    }
}

/// Loads the file at `path` (see [`load`]).
pub fn load_file(store: &Store, path: &Path, options: &LoadOptions) -> Result<Vec<Loaded>> {
    let file = File::open(path).ctx("open", path)?;
    load(store, file, options).map_err(|e| match e {
        Error::InvalidArchive { reason, .. } => Error::InvalidArchive {
            archive: path.display().to_string(),
            reason,
        },
        other => other,
    })
}

/// Where a file of the archive went.
pub(crate) enum Stored {
    /// A `blobs/sha256/<hex>` file, verified and in the store.
    Blob(Digest, u64),
    /// Any other large file, waiting in the ingest area.
    Pending(Ingested),
}

/// The files of an archive after one pass over its tar stream.
pub(crate) struct ArchiveFiles {
    /// Small metadata files kept in memory (manifest.json, repositories, index.json,
    /// oci-layout).
    pub small: HashMap<PathBuf, Vec<u8>>,
    pub stored: HashMap<PathBuf, Stored>,
    /// Symlinks (Docker links repeated layers), already resolved to archive paths.
    pub links: HashMap<PathBuf, PathBuf>,
}

const SMALL_FILES: [&str; 4] = ["manifest.json", "repositories", "index.json", "oci-layout"];
const SMALL_LIMIT: u64 = 64 << 20;

impl ArchiveFiles {
    fn read(store: &Store, stream: impl Read) -> Result<ArchiveFiles> {
        let mut files = ArchiveFiles {
            small: HashMap::new(),
            stored: HashMap::new(),
            links: HashMap::new(),
        };
        let mut archive = tar::Archive::new(stream);
        let entries = archive
            .entries()
            .with_ctx(|| "failed to read image archive".into())?;
        for entry in entries {
            let mut entry = entry.with_ctx(|| "failed to read image archive entry".into())?;
            let raw = entry
                .path()
                .with_ctx(|| "failed to read an archive entry's path".into())?
                .into_owned();
            let path = normalize(&raw).ok_or_else(|| {
                files.invalid(&format!("entry {} escapes the archive", raw.display()))
            })?;
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {}
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name()
                        .with_ctx(|| format!("failed to read link target of {}", raw.display()))?
                        .ok_or_else(|| {
                            files.invalid(&format!("link {} has no target", raw.display()))
                        })?;
                    let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                        path.parent().unwrap_or(Path::new("")).join(&target)
                    } else {
                        target.into_owned()
                    };
                    let resolved = normalize(&base).ok_or_else(|| {
                        files.invalid(&format!("link {} escapes the archive", raw.display()))
                    })?;
                    files.links.insert(path, resolved);
                    continue;
                }
                _ => continue,
            }
            let name = path.to_string_lossy().into_owned();
            if SMALL_FILES.contains(&name.as_str()) {
                if entry.size() > SMALL_LIMIT {
                    return Err(files.invalid(&format!("{name} is too large")));
                }
                let mut bytes = Vec::new();
                entry
                    .read_to_end(&mut bytes)
                    .with_ctx(|| format!("failed to read {name} from archive"))?;
                files.small.insert(path, bytes);
            } else if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                let expected = digest::parse(&format!("sha256:{hex}")).map_err(|_| {
                    files.invalid(&format!("{name} is not named by a sha256 digest"))
                })?;
                let (d, size) =
                    store
                        .put_blob(&mut entry, Some(&expected))
                        .map_err(|e| match e {
                            Error::DigestMismatch {
                                expected, actual, ..
                            } => Error::DigestMismatch {
                                what: format!("archive entry {name}"),
                                expected,
                                actual,
                            },
                            other => other,
                        })?;
                files.stored.insert(path, Stored::Blob(d, size));
            } else {
                let ingested = store.ingest(&mut entry)?;
                files.stored.insert(path, Stored::Pending(ingested));
            }
        }
        Ok(files)
    }

    pub fn invalid(&self, reason: &str) -> Error {
        Error::InvalidArchive {
            archive: "input".into(),
            reason: reason.to_string(),
        }
    }

    /// Follows symlinks (a few hops at most) to a stored file.
    pub fn resolve(&self, path: &Path) -> Result<&Stored> {
        let mut p = normalize(path)
            .ok_or_else(|| self.invalid(&format!("path {} escapes the archive", path.display())))?;
        for _ in 0..8 {
            if let Some(s) = self.stored.get(&p) {
                return Ok(s);
            }
            match self.links.get(&p) {
                Some(next) => p = next.clone(),
                None => break,
            }
        }
        Err(self.invalid(&format!("{} is not in the archive", path.display())))
    }

    /// Moves a file into the store (if it is not there yet); returns digest and size.
    pub fn commit(&mut self, path: &Path) -> Result<(Digest, u64)> {
        let (key, stored) = {
            let mut p = normalize(path).ok_or_else(|| {
                self.invalid(&format!("path {} escapes the archive", path.display()))
            })?;
            for _ in 0..8 {
                if self.stored.contains_key(&p) {
                    break;
                }
                if let Some(next) = self.links.get(&p) {
                    p = next.clone();
                }
            }
            let stored = self.stored.remove(&p).ok_or_else(|| {
                self.invalid(&format!("{} is not in the archive", path.display()))
            })?;
            (p, stored)
        };
        let (d, size) = match stored {
            Stored::Blob(d, size) => (d, size),
            Stored::Pending(ingested) => ingested.commit()?,
        };
        self.stored.insert(key, Stored::Blob(d.clone(), size));
        Ok((d, size))
    }
}

/// Reads a stored or pending file's bytes.
pub(crate) fn read_stored(store: &Store, stored: &Stored) -> Result<Vec<u8>> {
    match stored {
        Stored::Blob(d, _) => store.read_blob(d),
        Stored::Pending(i) => std::fs::read(i.path()).ctx("read", i.path()),
    }
}

/// An archive path without `.`; `None` if it is absolute or climbs out with `..`.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Appends a file to an export tar.
pub(crate) fn append_file(
    out: &mut tar::Builder<impl Write>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    out.append_data(&mut h, path, data)
        .with_ctx(|| format!("failed to write {path} to archive"))
}

/// Appends a directory to an export tar.
pub(crate) fn append_dir(out: &mut tar::Builder<impl Write>, path: &str) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(0);
    out.append_data(&mut h, path, io::empty())
        .with_ctx(|| format!("failed to write {path} to archive"))
}
