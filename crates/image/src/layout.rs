//! The OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) and
//! the content graph inside it: which blobs a manifest or an index refers to.
//!
//! The store is such a layout; `archive::oci` reads and writes others. Docker's
//! schema-2 media types are understood alongside the OCI ones, so content that came from
//! a `docker save` archive or a Docker registry walks the same way.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest, ImageIndex, MediaType};
use serde::Deserialize;

use crate::digest::sha256_hex;
use crate::error::{Error, IoContext, Result};

/// The file that marks a directory as an OCI image layout.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// The layout's entry point: descriptors of the images it holds.
pub const INDEX_FILE: &str = "index.json";
/// Contents of `oci-layout`.
pub const OCI_LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// The annotation that names an image in a layout's `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// containerd's (and BuildKit's) full-name annotation, read on import and written on
/// export so that tools which expect a bare tag in `ref.name` still find the name.
pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";

/// Media types beyond oci-spec's enum.
pub mod media_type {
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
}

/// What a blob is, judged by its descriptor's media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Manifest,
    Index,
    Config,
    Layer,
    Other,
}

/// The kind of blob a media type names.
pub fn kind_of(media_type: &MediaType) -> Kind {
    match media_type {
        MediaType::ImageManifest => Kind::Manifest,
        MediaType::ImageIndex => Kind::Index,
        MediaType::ImageConfig => Kind::Config,
        MediaType::ImageLayer
        | MediaType::ImageLayerGzip
        | MediaType::ImageLayerZstd
        | MediaType::ImageLayerNonDistributable
        | MediaType::ImageLayerNonDistributableGzip
        | MediaType::ImageLayerNonDistributableZstd => Kind::Layer,
        MediaType::Other(s) => match s.as_str() {
            media_type::DOCKER_MANIFEST => Kind::Manifest,
            media_type::DOCKER_MANIFEST_LIST => Kind::Index,
            media_type::DOCKER_CONFIG => Kind::Config,
            media_type::DOCKER_LAYER | media_type::DOCKER_LAYER_GZIP => Kind::Layer,
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

/// `blobs/sha256/<hex>`, relative to a layout's root.
pub fn blob_relpath(digest: &Digest) -> Result<PathBuf> {
    Ok(Path::new("blobs").join("sha256").join(sha256_hex(digest)?))
}

/// The references out of a manifest (config, layers, subject) or an index (manifests,
/// subject). Other kinds refer to nothing.
pub fn children(kind: Kind, digest: &Digest, bytes: &[u8]) -> Result<Vec<Descriptor>> {
    #[derive(Deserialize)]
    struct Links {
        config: Option<Descriptor>,
        #[serde(default)]
        layers: Vec<Descriptor>,
        #[serde(default)]
        manifests: Vec<Descriptor>,
        subject: Option<Descriptor>,
    }
    let what = match kind {
        Kind::Manifest => "manifest",
        Kind::Index => "image index",
        _ => return Ok(Vec::new()),
    };
    let links: Links = serde_json::from_slice(bytes).map_err(|e| Error::InvalidContent {
        what,
        digest: digest.clone(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    match kind {
        Kind::Manifest => {
            let config = links.config.ok_or_else(|| Error::InvalidContent {
                what,
                digest: digest.clone(),
                reason: "no config descriptor".into(),
            })?;
            out.push(config);
            out.extend(links.layers);
        }
        _ => out.extend(links.manifests),
    }
    out.extend(links.subject);
    Ok(out)
}

/// Creates `dir` as an empty layout (or completes a partial one).
pub fn init(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir.join("blobs").join("sha256")).ctx("create", dir)?;
    let marker = dir.join(OCI_LAYOUT_FILE);
    if !marker.exists() {
        write_atomic(&marker, OCI_LAYOUT_CONTENT.as_bytes())?;
    }
    let index = dir.join(INDEX_FILE);
    if !index.exists() {
        write_index(dir, &empty_index())?;
    }
    Ok(())
}

/// Checks the `oci-layout` marker of a layout directory.
pub fn check_marker(dir: &Path) -> Result<()> {
    let path = dir.join(OCI_LAYOUT_FILE);
    let bytes = fs::read(&path).ctx("read", &path)?;
    check_marker_bytes(&dir.display().to_string(), &bytes)
}

/// Checks the contents of an `oci-layout` file.
pub fn check_marker_bytes(archive: &str, bytes: &[u8]) -> Result<()> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Marker {
        image_layout_version: String,
    }
    let marker: Marker = serde_json::from_slice(bytes).map_err(|e| Error::InvalidArchive {
        archive: archive.to_string(),
        reason: format!("bad {OCI_LAYOUT_FILE}: {e}"),
    })?;
    if !marker.image_layout_version.starts_with("1.") {
        return Err(Error::InvalidArchive {
            archive: archive.to_string(),
            reason: format!(
                "unsupported image layout version {}",
                marker.image_layout_version
            ),
        });
    }
    Ok(())
}

/// An index with no manifests.
pub fn empty_index() -> ImageIndex {
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index
}

/// Reads `dir/index.json`.
pub fn read_index(dir: &Path) -> Result<ImageIndex> {
    let path = dir.join(INDEX_FILE);
    let bytes = fs::read(&path).ctx("read", &path)?;
    parse_index(&path.display().to_string(), &bytes)
}

/// Parses the bytes of an `index.json`.
pub fn parse_index(origin: &str, bytes: &[u8]) -> Result<ImageIndex> {
    serde_json::from_slice(bytes).map_err(|e| Error::InvalidArchive {
        archive: origin.to_string(),
        reason: format!("bad {INDEX_FILE}: {e}"),
    })
}

/// Replaces `dir/index.json` atomically (readers see the old or the new file, whole).
pub fn write_index(dir: &Path, index: &ImageIndex) -> Result<()> {
    let bytes = serde_json::to_vec(index)
        .map_err(|e| Error::io("failed to serialize index.json", std::io::Error::other(e)))?;
    write_atomic(&dir.join(INDEX_FILE), &bytes)
}

/// Writes `path` through a temporary file in the same directory, fsync and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", crate::unique_suffix()));
    let result = (|| {
        let mut f = File::create(&tmp).ctx("create", &tmp)?;
        f.write_all(bytes).ctx("write", &tmp)?;
        f.sync_all().ctx("sync", &tmp)?;
        fs::rename(&tmp, path).ctx("rename into place", path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
