//! The content-addressed image store: an OCI image layout under a data directory, plus
//! the unpacked layer snapshots that containers' root filesystems are made of.
//!
//! ```text
//! DIR/oci-layout                  OCI image layout marker
//! DIR/index.json                  one descriptor per image; tags in the
//!                                 org.opencontainers.image.ref.name annotation (full name)
//! DIR/blobs/sha256/<hex>          manifests, indexes, configs, layers
//! DIR/ingest/                     blobs being written (renamed into blobs/ once verified)
//! DIR/snapshots/<diff-id hex>/    a layer unpacked once, in overlayfs form
//! DIR/index.lock, DIR/gc.lock     flock files: index.json writers; content in flight vs prune
//! ```
//!
//! Concurrency: blobs appear atomically (written under `ingest/`, verified, renamed), so
//! readers never see a partial blob. Every change to `index.json` is a read-modify-write
//! under an exclusive lock on `index.lock` and an atomic rename. Writers of content hold
//! a shared lock on `gc.lock` while they work and `prune` takes it exclusively, so
//! garbage collection never removes a blob or snapshot that is being added; a caller
//! that writes blobs now and tags them later (a pull) holds [`Store::hold`] in between.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use oci_spec::image::{
    Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, ImageManifestBuilder,
    MediaType,
};
use serde::Serialize;

use crate::digest::{self, sha256_hex, HashingWriter};
use crate::error::{Error, IoContext, Result};
use crate::layout::{self, kind_of, Kind, REF_NAME_ANNOTATION};
use crate::lock::FileLock;
use crate::reference::Reference;
use crate::tag_history;
use crate::unpack::{self, UnpackOptions};

/// An image store rooted at a directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// An image resolved down to one platform's manifest and its config.
#[derive(Clone, Debug)]
pub struct Image {
    /// The name it was found by, when it was found by name.
    pub name: Option<Reference>,
    /// The manifest's descriptor (its digest is the image's "repo digest").
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

impl Image {
    /// The image ID as Docker shows it: the config's digest.
    pub fn id(&self) -> &Digest {
        self.manifest.config().digest()
    }

    /// Each layer's blob descriptor with its diff-id (digest of the uncompressed tar),
    /// bottom layer first.
    pub fn layers(&self) -> Result<Vec<(Descriptor, Digest)>> {
        let diff_ids = self.config.rootfs().diff_ids();
        if diff_ids.len() != self.manifest.layers().len() {
            return Err(Error::InvalidContent {
                what: "image config",
                digest: self.id().clone(),
                reason: format!(
                    "{} diff_ids for {} layers in manifest {}",
                    diff_ids.len(),
                    self.manifest.layers().len(),
                    self.descriptor.digest()
                ),
            });
        }
        self.manifest
            .layers()
            .iter()
            .zip(diff_ids)
            .map(|(layer, d)| Ok((layer.clone(), digest::parse(d)?)))
            .collect()
    }

    /// Total size of config and layer blobs.
    pub fn size(&self) -> u64 {
        self.manifest.config().size() + self.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
    }
}

/// One entry of [`Store::images`].
#[derive(Clone, Debug)]
pub struct ImageSummary {
    /// `None` for an image kept without a name (a "dangling" image).
    pub name: Option<Reference>,
    /// What `index.json` holds for it: a manifest or an image index.
    pub descriptor: Descriptor,
    /// The config digest of this platform's manifest, when present in the store.
    pub id: Option<Digest>,
    /// The config's `created` time, as written in it.
    pub created: Option<String>,
    /// Config plus layer blob sizes of this platform's manifest.
    pub size: u64,
}

/// What [`Store::prune`] keeps besides what `index.json` reaches.
#[derive(Clone, Debug, Default)]
pub struct PruneOptions {
    /// More roots: manifests or indexes in use (by containers, say) even if untagged.
    pub keep: Vec<Digest>,
    /// Also drop `index.json` entries that have no name (dangling images) first.
    pub untagged: bool,
    /// Leave blobs younger than this (extra safety for callers not using [`Store::hold`]).
    pub grace: Duration,
}

/// What [`Store::prune`] removed.
#[derive(Clone, Debug, Default)]
pub struct PruneReport {
    pub blobs: Vec<Digest>,
    pub snapshots: Vec<Digest>,
    pub untagged: Vec<Digest>,
    pub bytes_freed: u64,
}

/// Progress of long work (unpacking an image's layers), for progress bars.
#[derive(Clone, Debug)]
pub enum Progress {
    /// Layer `index` of `count` is already unpacked.
    LayerCached {
        index: usize,
        count: usize,
        diff_id: Digest,
    },
    /// Unpacking starts; `size` is the layer blob's (compressed) size.
    LayerStarted {
        index: usize,
        count: usize,
        diff_id: Digest,
        size: u64,
    },
    /// `read` bytes of the layer blob read so far.
    LayerBytes { index: usize, read: u64, size: u64 },
    LayerDone {
        index: usize,
        count: usize,
        diff_id: Digest,
    },
}

/// Keeps garbage collection away while held: blobs written now survive until they are
/// tagged (or the hold is dropped).
#[derive(Debug)]
pub struct Hold {
    _lock: FileLock,
}

/// A blob written to the store's ingest area, verified, not yet in `blobs/`: dropped,
/// it is deleted; [`Ingested::commit`] moves it into place.
#[derive(Debug)]
pub struct Ingested {
    path: PathBuf,
    pub digest: Digest,
    pub size: u64,
    blobs_dir: PathBuf,
    committed: bool,
}

impl Ingested {
    /// Moves the blob into `blobs/sha256/` (a no-op if it is already there).
    pub fn commit(mut self) -> Result<(Digest, u64)> {
        let dest = self.blobs_dir.join(sha256_hex(&self.digest)?);
        if !dest.exists() {
            fs::rename(&self.path, &dest).ctx("rename into place", &dest)?;
        }
        self.committed = true;
        let _ = fs::remove_file(&self.path);
        Ok((self.digest.clone(), self.size))
    }

    /// The temporary file holding the content.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Ingested {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A writer into the ingest area that hashes as it goes; [`IngestWriter::finish`]
/// returns the [`Ingested`] blob.
pub struct IngestWriter {
    inner: Option<HashingWriter<File>>,
    path: PathBuf,
    blobs_dir: PathBuf,
    _hold: Hold,
}

impl Write for IngestWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("ingest writer already finished")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl IngestWriter {
    /// Flushes to disk and returns the written blob with its digest and size.
    pub fn finish(mut self) -> Result<Ingested> {
        let w = self.inner.take().ok_or_else(|| {
            Error::io("ingest", io::Error::other("ingest writer already finished"))
        })?;
        let (digest, size, file) = w.finish();
        file.sync_all().ctx("sync", &self.path)?;
        Ok(Ingested {
            path: std::mem::take(&mut self.path),
            digest,
            size,
            blobs_dir: self.blobs_dir.clone(),
            committed: false,
        })
    }
}

impl Drop for IngestWriter {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Store {
    /// Opens the store at `root`, creating an empty one if needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        layout::init(&root)?;
        for dir in ["ingest", "snapshots"] {
            let p = root.join(dir);
            fs::create_dir_all(&p).ctx("create", &p)?;
        }
        layout::check_marker(&root)?;
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Holds off garbage collection until dropped.
    pub fn hold(&self) -> Result<Hold> {
        Ok(Hold {
            _lock: FileLock::shared(&self.root.join("gc.lock"))?,
        })
    }

    // ---- blobs ----

    /// Where the blob with this digest lives (whether or not it is there).
    pub fn blob_path(&self, digest: &Digest) -> Result<PathBuf> {
        Ok(self.root.join(layout::blob_relpath(digest)?))
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    /// A writer for a new blob; see [`IngestWriter`].
    pub fn ingest_writer(&self) -> Result<IngestWriter> {
        let hold = self.hold()?;
        let path = self.root.join("ingest").join(crate::unique_suffix());
        let file = File::create(&path).ctx("create", &path)?;
        Ok(IngestWriter {
            inner: Some(HashingWriter::new(file)),
            path,
            blobs_dir: self.root.join("blobs").join("sha256"),
            _hold: hold,
        })
    }

    /// Streams `reader` into the ingest area.
    pub fn ingest(&self, reader: impl Read) -> Result<Ingested> {
        let mut w = self.ingest_writer()?;
        let mut reader = reader;
        io::copy(&mut reader, &mut w).with_ctx(|| "failed to write blob into ingest".into())?;
        w.finish()
    }

    /// Streams a blob into the store. With `expected`, the content must hash to it (and
    /// the blob is not read at all if the store already has it). Returns digest and size.
    pub fn put_blob(&self, reader: impl Read, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        if let Some(d) = expected {
            let path = self.blob_path(d)?;
            if let Ok(meta) = fs::metadata(&path) {
                return Ok((d.clone(), meta.len()));
            }
        }
        let ingested = self.ingest(reader)?;
        if let Some(d) = expected {
            if *d != ingested.digest {
                return Err(Error::DigestMismatch {
                    what: "blob".into(),
                    expected: d.clone(),
                    actual: ingested.digest.clone(),
                });
            }
        }
        ingested.commit()
    }

    /// Like [`Store::put_blob`], checking digest and size against a descriptor.
    pub fn put_blob_for(&self, reader: impl Read, descriptor: &Descriptor) -> Result<()> {
        let (_, size) = self.put_blob(reader, Some(descriptor.digest()))?;
        if size != descriptor.size() {
            return Err(Error::SizeMismatch {
                what: format!("blob {}", descriptor.digest()),
                expected: descriptor.size(),
                actual: size,
            });
        }
        Ok(())
    }

    /// Stores `bytes` as a blob.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(Digest, u64)> {
        let digest = digest::of_bytes(bytes);
        self.put_blob(bytes, Some(&digest))
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest)?;
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(digest.clone()),
            _ => Error::io(format!("failed to open blob {digest}"), e),
        })
    }

    /// Reads a whole blob, checking that it still hashes to its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .with_ctx(|| format!("failed to read blob {digest}"))?;
        let actual = digest::of_bytes(&bytes);
        if actual != *digest {
            return Err(Error::DigestMismatch {
                what: format!("stored blob {}", self.blob_path(digest)?.display()),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    // ---- manifests, indexes, configs ----

    fn put_json<T: Serialize>(&self, value: &T, media_type: MediaType) -> Result<Descriptor> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::io("failed to serialize json", io::Error::other(e)))?;
        let (digest, size) = self.put_bytes(&bytes)?;
        Ok(Descriptor::new(media_type, size, digest))
    }

    /// Stores an image config.
    pub fn put_config(&self, config: &ImageConfiguration) -> Result<Descriptor> {
        self.put_json(config, MediaType::ImageConfig)
    }

    /// Stores a manifest whose config and layers are already in the store.
    pub fn put_manifest(&self, manifest: &ImageManifest) -> Result<Descriptor> {
        for d in std::iter::once(manifest.config()).chain(manifest.layers()) {
            if !self.has_blob(d.digest()) {
                return Err(Error::BlobNotFound(d.digest().clone()));
            }
        }
        self.put_json(manifest, MediaType::ImageManifest)
    }

    /// Stores an image index (its manifests may be absent: other platforms' often are).
    pub fn put_index(&self, index: &ImageIndex) -> Result<Descriptor> {
        self.put_json(index, MediaType::ImageIndex)
    }

    /// Stores `config` (with `rootfs.diff_ids` set from `layers`) and a manifest over
    /// it and `layers` (blob descriptor + diff-id, bottom first). Returns the manifest's
    /// descriptor, ready to [`Store::tag`].
    pub fn write_image(
        &self,
        config: &ImageConfiguration,
        layers: &[(Descriptor, Digest)],
    ) -> Result<Descriptor> {
        let value = serde_json::to_value(config)
            .map_err(|e| Error::Unsupported(format!("cannot serialize image config: {e}")))?;
        self.write_image_json(&value, layers)
    }

    /// [`Store::write_image`] for a config held as JSON, so fields the OCI types do not
    /// model (Docker's `Healthcheck`, `Shell`, `OnBuild`) are kept.
    pub fn write_image_json(
        &self,
        config: &serde_json::Value,
        layers: &[(Descriptor, Digest)],
    ) -> Result<Descriptor> {
        let mut config = config.clone();
        config["rootfs"] = serde_json::json!({
            "type": "layers",
            "diff_ids": layers.iter().map(|(_, d)| d.to_string()).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&config)
            .map_err(|e| Error::Unsupported(format!("cannot serialize image config: {e}")))?;
        let (digest, size) = self.put_bytes(&bytes)?;
        let config_desc = Descriptor::new(MediaType::ImageConfig, size, digest);
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config_desc)
            .layers(layers.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>())
            .build()
            .map_err(|e| Error::Unsupported(format!("cannot build manifest: {e}")))?;
        self.put_manifest(&manifest)
    }

    fn parse_blob<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        d: &Digest,
    ) -> Result<T> {
        let bytes = self.read_blob(d)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidContent {
            what,
            digest: d.clone(),
            reason: e.to_string(),
        })
    }

    pub fn manifest(&self, digest: &Digest) -> Result<ImageManifest> {
        self.parse_blob("manifest", digest)
    }

    pub fn index(&self, digest: &Digest) -> Result<ImageIndex> {
        self.parse_blob("image index", digest)
    }

    pub fn config(&self, digest: &Digest) -> Result<ImageConfiguration> {
        self.parse_blob("image config", digest)
    }

    // ---- names ----

    /// The store's `index.json`.
    pub fn index_json(&self) -> Result<ImageIndex> {
        layout::read_index(&self.root)
    }

    /// Read-modify-write of `index.json` under the index lock.
    fn update_index<R>(&self, f: impl FnOnce(&mut Vec<Descriptor>) -> Result<R>) -> Result<R> {
        let _lock = FileLock::exclusive(&self.root.join("index.lock"))?;
        let mut index = layout::read_index(&self.root)?;
        let mut entries = index.manifests().clone();
        let out = f(&mut entries)?;
        index.set_manifests(entries);
        layout::write_index(&self.root, &index)?;
        Ok(out)
    }

    /// Points `name` (which must carry a tag) at a manifest or index in the store.
    /// Returns the descriptor the name pointed at before, if any.
    pub fn tag(&self, name: &Reference, target: &Descriptor) -> Result<Option<Descriptor>> {
        if name.tag().is_none() || name.digest().is_some() {
            return Err(Error::InvalidReference {
                input: name.to_string(),
                reason: "a tag name needs a tag and no digest".into(),
            });
        }
        self.check_taggable(target)?;
        let full = name.to_string();
        let mut entry = target.clone();
        let mut annotations = HashMap::new();
        annotations.insert(REF_NAME_ANNOTATION.to_string(), full.clone());
        entry.set_annotations(Some(annotations));
        self.update_index(|entries| {
            let old = entries
                .iter()
                .position(|e| ref_name(e) == Some(full.as_str()));
            let previous = old.map(|i| entries.remove(i));
            // An unnamed entry for the same content is superseded by the name.
            entries.retain(|e| !(ref_name(e).is_none() && e.digest() == entry.digest()));
            entries.push(entry);
            tag_history::record(&self.root, &full, target)?;
            Ok(previous.map(strip_annotations))
        })
    }

    /// Points `name` back at the image it named before the current one (its tag
    /// history's previous entry). Returns that image's descriptor.
    pub fn rollback(&self, name: &Reference) -> Result<Descriptor> {
        let full = name.to_string();
        self.update_index(|entries| {
            if !entries.iter().any(|e| ref_name(e) == Some(full.as_str())) {
                return Err(Error::ImageNotFound(full.clone()));
            }
            let previous = tag_history::step_back(&self.root, &full)?.descriptor()?;
            if !self.has_blob(previous.digest()) {
                return Err(Error::BlobNotFound(previous.digest().clone()));
            }
            entries.retain(|e| ref_name(e) != Some(full.as_str()));
            let mut entry = previous.clone();
            let mut annotations = HashMap::new();
            annotations.insert(REF_NAME_ANNOTATION.to_string(), full.clone());
            entry.set_annotations(Some(annotations));
            entries.push(entry);
            Ok(previous)
        })
    }

    /// The images `name` has named, oldest first (the last is the current one).
    pub fn tag_history(&self, name: &Reference) -> Result<Vec<tag_history::Entry>> {
        let full = name.to_string();
        tag_history::read(&self.root)?
            .remove(&full)
            .ok_or(Error::ImageNotFound(full))
    }

    /// Records an image in `index.json` without a name (kept from garbage collection,
    /// listed with no name), unless some entry already holds it.
    pub fn add_untagged(&self, target: &Descriptor) -> Result<()> {
        self.check_taggable(target)?;
        self.update_index(|entries| {
            if !entries.iter().any(|e| e.digest() == target.digest()) {
                entries.push(strip_annotations(target.clone()));
            }
            Ok(())
        })
    }

    fn check_taggable(&self, target: &Descriptor) -> Result<()> {
        match kind_of(target.media_type()) {
            Kind::Manifest | Kind::Index => {}
            _ => {
                return Err(Error::Unsupported(format!(
                    "{} is a {}, not a manifest or image index",
                    target.digest(),
                    target.media_type()
                )))
            }
        }
        if !self.has_blob(target.digest()) {
            return Err(Error::BlobNotFound(target.digest().clone()));
        }
        Ok(())
    }

    /// Removes a name. Returns what it pointed at.
    pub fn untag(&self, name: &Reference) -> Result<Descriptor> {
        let full = name.to_string();
        self.update_index(|entries| {
            let i = entries
                .iter()
                .position(|e| ref_name(e) == Some(full.as_str()))
                .ok_or_else(|| Error::ImageNotFound(full.clone()))?;
            tag_history::forget(&self.root, &full)?;
            Ok(strip_annotations(entries.remove(i)))
        })
    }

    /// Removes every `index.json` entry (named or not) for this manifest or index
    /// digest. Returns how many were removed.
    pub fn remove(&self, digest: &Digest) -> Result<usize> {
        self.update_index(|entries| {
            let before = entries.len();
            entries.retain(|e| e.digest() != digest);
            match before - entries.len() {
                0 => Err(Error::ImageNotFound(digest.to_string())),
                n => Ok(n),
            }
        })
    }

    /// Finds what `input` names: a reference (`busybox`, `example.com/a:v1`,
    /// `name@sha256:...`), a manifest digest, or an image ID (config digest, or a
    /// unique hex prefix of at least 4 characters of one, as Docker accepts).
    pub fn resolve(&self, input: &str) -> Result<(Option<Reference>, Descriptor)> {
        let entries = self.index_json()?.manifests().clone();
        if let Some(hex) = input.strip_prefix("sha256:") {
            if let Some(found) = self.resolve_id(&entries, hex)? {
                return Ok((None, found));
            }
            let d = digest::parse(input)?;
            return self
                .descriptor_of_blob(&entries, &d)
                .map(|d| (None, d))
                .ok_or_else(|| Error::ImageNotFound(input.to_string()));
        }
        // A name first (a repository may be named like a hex prefix), then an ID.
        let name = Reference::parse(input);
        if let Ok(name) = &name {
            if name.digest().is_none() {
                let full = name.to_string();
                if let Some(e) = entries.iter().find(|e| ref_name(e) == Some(full.as_str())) {
                    return Ok((Some(name.clone()), strip_annotations(e.clone())));
                }
            }
        }
        let looks_like_id = input.len() >= 4
            && input
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
        if looks_like_id {
            if let Some(found) = self.resolve_id(&entries, input)? {
                return Ok((None, found));
            }
        }
        let name = name?;
        match name.digest() {
            Some(d) => self
                .descriptor_of_blob(&entries, d)
                .map(|found| (Some(name.clone()), found))
                .ok_or_else(|| Error::ImageNotFound(name.to_string())),
            None => Err(Error::ImageNotFound(name.to_string())),
        }
    }

    /// The descriptor of a manifest or index by digest: its `index.json` entry, else one
    /// made from the blob itself.
    fn descriptor_of_blob(&self, entries: &[Descriptor], d: &Digest) -> Option<Descriptor> {
        if let Some(e) = entries.iter().find(|e| e.digest() == d) {
            return Some(strip_annotations(e.clone()));
        }
        let bytes = self.read_blob(d).ok()?;
        Some(Descriptor::new(
            sniff_media_type(&bytes),
            bytes.len() as u64,
            d.clone(),
        ))
    }

    fn resolve_id(&self, entries: &[Descriptor], hex: &str) -> Result<Option<Descriptor>> {
        let mut found: Vec<&Descriptor> = Vec::new();
        for e in entries {
            let manifest_hex = e.digest().digest();
            let id = self
                .platform_manifest(e)
                .ok()
                .map(|(_, m)| m.config().digest().clone());
            let matches = if hex.len() == 64 {
                manifest_hex == hex || id.as_ref().is_some_and(|i| i.digest() == hex)
            } else {
                id.as_ref().is_some_and(|i| i.digest().starts_with(hex))
            };
            if matches && !found.iter().any(|f| f.digest() == e.digest()) {
                found.push(e);
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(Some(strip_annotations(found[0].clone()))),
            _ => Err(Error::InvalidReference {
                input: hex.to_string(),
                reason: "image ID prefix matches more than one image".into(),
            }),
        }
    }

    /// Resolves `input` (see [`Store::resolve`]) to this platform's manifest and config.
    pub fn image(&self, input: &str) -> Result<Image> {
        let (name, descriptor) = self.resolve(input)?;
        let (descriptor, manifest) = self.platform_manifest(&descriptor)?;
        let config = self.config(manifest.config().digest())?;
        Ok(Image {
            name,
            descriptor,
            manifest,
            config,
        })
    }

    /// For a manifest, itself; for an index, the manifest for this machine's platform
    /// (linux and this architecture; the only manifest if there is just one).
    pub fn platform_manifest(
        &self,
        descriptor: &Descriptor,
    ) -> Result<(Descriptor, ImageManifest)> {
        let mut current = descriptor.clone();
        for _ in 0..8 {
            match kind_of(current.media_type()) {
                Kind::Manifest => {
                    let m = self.manifest(current.digest())?;
                    return Ok((current, m));
                }
                Kind::Index => {
                    let index = self.index(current.digest())?;
                    current = pick_platform(&index).ok_or_else(|| Error::InvalidContent {
                        what: "image index",
                        digest: current.digest().clone(),
                        reason: format!("no manifest for linux/{}", crate::platform_arch()),
                    })?;
                }
                _ => {
                    return Err(Error::Unsupported(format!(
                        "{} has media type {}, not an image",
                        current.digest(),
                        current.media_type()
                    )))
                }
            }
        }
        Err(Error::InvalidContent {
            what: "image index",
            digest: descriptor.digest().clone(),
            reason: "indexes nested too deep".into(),
        })
    }

    /// Every image `index.json` holds, named or not, in its order.
    pub fn images(&self) -> Result<Vec<ImageSummary>> {
        let mut out = Vec::new();
        for e in self.index_json()?.manifests() {
            let name = ref_name(e).and_then(|n| Reference::parse(n).ok());
            let resolved = self.platform_manifest(e).ok();
            let (id, size, created) = match &resolved {
                Some((_, m)) => {
                    let size = m.config().size() + m.layers().iter().map(|l| l.size()).sum::<u64>();
                    let created = self
                        .config(m.config().digest())
                        .ok()
                        .and_then(|c| c.created().clone());
                    (Some(m.config().digest().clone()), size, created)
                }
                None => (None, 0, None),
            };
            out.push(ImageSummary {
                name,
                descriptor: strip_annotations(e.clone()),
                id,
                created,
                size,
            });
        }
        Ok(out)
    }

    // ---- garbage collection ----

    /// Removes blobs that no `index.json` entry (nor `options.keep`) reaches, snapshots
    /// of layers no reachable config lists, and leftovers of interrupted writes.
    /// Waits for writers in progress (see [`Store::hold`]).
    pub fn prune(&self, options: &PruneOptions) -> Result<PruneReport> {
        let _gc = FileLock::exclusive(&self.root.join("gc.lock"))?;
        let mut report = PruneReport::default();
        if options.untagged {
            report.untagged = self.update_index(|entries| {
                let (dangling, named): (Vec<_>, Vec<_>) =
                    entries.drain(..).partition(|e| ref_name(e).is_none());
                *entries = named;
                Ok(dangling.into_iter().map(|e| e.digest().clone()).collect())
            })?;
        }
        let mut roots: Vec<Descriptor> = self.index_json()?.manifests().clone();
        // Images a tag named before stay, so a rollback finds them.
        for entry in tag_history::read(&self.root)?.values().flatten() {
            roots.extend(entry.descriptor().ok().filter(|d| self.has_blob(d.digest())));
        }
        for d in &options.keep {
            if let Ok(bytes) = self.read_blob(d) {
                roots.push(Descriptor::new(
                    sniff_media_type(&bytes),
                    bytes.len() as u64,
                    d.clone(),
                ));
            }
        }
        let (blobs, diff_ids) = self.reachable(&roots)?;

        let now = SystemTime::now();
        let blob_dir = self.root.join("blobs").join("sha256");
        for entry in fs::read_dir(&blob_dir).ctx("read", &blob_dir)? {
            let entry = entry.ctx("read", &blob_dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(d) = digest::parse(&format!("sha256:{name}")) else {
                continue;
            };
            if blobs.contains(&d) {
                continue;
            }
            let meta = entry.metadata().ctx("stat", &entry.path())?;
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok());
            if options.grace > Duration::ZERO && age.is_none_or(|a| a < options.grace) {
                continue;
            }
            fs::remove_file(entry.path()).ctx("remove", &entry.path())?;
            report.bytes_freed += meta.len();
            report.blobs.push(d);
        }

        let snap_dir = self.root.join("snapshots");
        for entry in fs::read_dir(&snap_dir).ctx("read", &snap_dir)? {
            let entry = entry.ctx("read", &snap_dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let keep = match digest::parse(&format!("sha256:{name}")) {
                Ok(d) if diff_ids.contains(&d) => true,
                Ok(d) => {
                    report.snapshots.push(d);
                    false
                }
                Err(_) => false, // an interrupted unpack (no writer holds the gc lock now)
            };
            if !keep {
                remove_tree(&entry.path())?;
            }
        }
        // Nobody is ingesting while we hold the gc lock: whatever is here is stale.
        let ingest = self.root.join("ingest");
        for entry in fs::read_dir(&ingest).ctx("read", &ingest)? {
            let entry = entry.ctx("read", &ingest)?;
            let _ = fs::remove_file(entry.path());
        }
        Ok(report)
    }

    /// Blobs reachable from `roots`, and the diff-ids of reachable configs. Blobs that
    /// are missing (other platforms' manifests of an index) are skipped.
    fn reachable(&self, roots: &[Descriptor]) -> Result<(HashSet<Digest>, HashSet<Digest>)> {
        let mut seen = HashSet::new();
        let mut diff_ids = HashSet::new();
        let mut stack: Vec<Descriptor> = roots.to_vec();
        while let Some(d) = stack.pop() {
            if !seen.insert(d.digest().clone()) || !self.has_blob(d.digest()) {
                continue;
            }
            match kind_of(d.media_type()) {
                Kind::Manifest | Kind::Index => {
                    let bytes = self.read_blob(d.digest())?;
                    stack.extend(layout::children(
                        kind_of(d.media_type()),
                        d.digest(),
                        &bytes,
                    )?);
                }
                Kind::Config => {
                    let config = self.config(d.digest())?;
                    for id in config.rootfs().diff_ids() {
                        if let Ok(id) = digest::parse(id) {
                            diff_ids.insert(id);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok((seen, diff_ids))
    }

    // ---- snapshots ----

    /// Where the layer with this diff-id is (or will be) unpacked.
    pub fn snapshot_dir(&self, diff_id: &Digest) -> Result<PathBuf> {
        Ok(self.root.join("snapshots").join(sha256_hex(diff_id)?))
    }

    /// Unpacks the image's layers that are not unpacked yet (each layer once, shared by
    /// every image that has it) and returns the snapshot directories, bottom first.
    pub fn unpack(
        &self,
        image: &Image,
        options: &UnpackOptions,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Vec<PathBuf>> {
        self.unpack_layers(&image.layers()?, options, progress)
    }

    /// [`Store::unpack`] for a layer list (blob descriptor + diff-id, bottom first).
    pub fn unpack_layers(
        &self,
        layers: &[(Descriptor, Digest)],
        options: &UnpackOptions,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Vec<PathBuf>> {
        let _hold = self.hold()?;
        let layers = layers.to_vec();
        let count = layers.len();
        let mut dirs = Vec::with_capacity(count);
        for (index, (blob, diff_id)) in layers.into_iter().enumerate() {
            let dir = self.snapshot_dir(&diff_id)?;
            if dir.is_dir() {
                progress(&Progress::LayerCached {
                    index,
                    count,
                    diff_id,
                });
                dirs.push(dir);
                continue;
            }
            let size = blob.size();
            progress(&Progress::LayerStarted {
                index,
                count,
                diff_id: diff_id.clone(),
                size,
            });
            let tmp = self.root.join("snapshots").join(format!(
                ".unpack-{}-{}",
                sha256_hex(&diff_id)?,
                crate::unique_suffix()
            ));
            let result = (|| {
                let file = self.open_blob(blob.digest())?;
                let mut on_bytes = |read| progress(&Progress::LayerBytes { index, read, size });
                let reader = BufReader::with_capacity(
                    1 << 16,
                    ProgressReader {
                        inner: file,
                        read: 0,
                        last: 0,
                        on: &mut on_bytes,
                    },
                );
                let (actual, _) = unpack::unpack_layer(reader, &tmp, options)?;
                if actual != diff_id {
                    return Err(Error::DigestMismatch {
                        what: format!("uncompressed layer {}", blob.digest()),
                        expected: diff_id.clone(),
                        actual,
                    });
                }
                match fs::rename(&tmp, &dir) {
                    Ok(()) => Ok(()),
                    // Another unpacker finished first: its copy is as good as ours.
                    Err(_) if dir.is_dir() => remove_tree(&tmp),
                    Err(e) => Err(e).ctx("rename into place", &dir),
                }
            })();
            if result.is_err() && tmp.exists() {
                let _ = remove_tree(&tmp);
            }
            result?;
            progress(&Progress::LayerDone {
                index,
                count,
                diff_id,
            });
            dirs.push(dir);
        }
        Ok(dirs)
    }
}

/// Counts bytes read and reports them every 1 MiB and at the end.
struct ProgressReader<'a, R> {
    inner: R,
    read: u64,
    last: u64,
    on: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if n == 0 || self.read - self.last >= 1 << 20 {
            self.last = self.read;
            (self.on)(self.read);
        }
        Ok(n)
    }
}

/// Removes a directory tree (used for snapshots, which may hold read-only directories).
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx("remove", path),
    }
}

/// The name an `index.json` entry carries.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME_ANNOTATION))
        .map(String::as_str)
}

fn strip_annotations(mut d: Descriptor) -> Descriptor {
    d.set_annotations(None);
    d
}

/// Media type of a JSON blob found by digest alone: its own `mediaType`, else judged
/// by its shape.
fn sniff_media_type(bytes: &[u8]) -> MediaType {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        layers: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Shape>(bytes) {
        Ok(Shape {
            media_type: Some(m),
            ..
        }) => MediaType::from(m.as_str()),
        Ok(Shape {
            manifests: Some(_), ..
        }) => MediaType::ImageIndex,
        Ok(Shape {
            layers: Some(_), ..
        }) => MediaType::ImageManifest,
        _ => MediaType::Other("application/octet-stream".into()),
    }
}

/// The manifest in `index` for linux on this machine's architecture.
fn pick_platform(index: &ImageIndex) -> Option<Descriptor> {
    let arch = crate::platform_arch();
    let manifests = index.manifests();
    let matching = manifests.iter().find(|m| {
        m.platform()
            .as_ref()
            .is_some_and(|p| p.os().to_string() == "linux" && p.architecture().to_string() == arch)
    });
    match (matching, manifests.len()) {
        (Some(m), _) => Some(m.clone()),
        (None, 1) => Some(manifests[0].clone()),
        _ => None,
    }
}
