//! `docker save` archives in and out.
//!
//! ```text
//! manifest.json            [{"Config": "<config hex>.json", "RepoTags": ["busybox:latest"],
//!                            "Layers": ["<diff-id hex>/layer.tar", ...]}]
//! repositories             {"busybox": {"latest": "<top layer id>"}}
//! <config hex>.json        the image config
//! <diff-id hex>/layer.tar  each layer, uncompressed
//! ```
//!
//! On import, layers may be plain or gzip tars anywhere in the archive (Docker 25+
//! puts them under `blobs/sha256/`); a plain layer must hash to its diff-id. Each image
//! gets an OCI manifest in the store.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufReader, Write};
use std::path::Path;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifestBuilder, MediaType};
use serde::{Deserialize, Serialize};

use super::{append_file, read_stored, select, ArchiveFiles, Loaded, Stored};
use crate::digest::{self, sha256_hex};
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;
use crate::store::Store;
use crate::unpack::{self, Compression};

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Item {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Imports from the files of a docker-archive (see `archive::load`).
pub(crate) fn import(store: &Store, files: &mut ArchiveFiles) -> Result<Vec<Loaded>> {
    let manifest_bytes = &files.small[Path::new("manifest.json")];
    let items: Vec<Item> = serde_json::from_slice(manifest_bytes)
        .map_err(|e| files.invalid(&format!("bad manifest.json: {e}")))?;
    let mut loaded = Vec::new();
    for item in items {
        let config_stored = files.resolve(Path::new(&item.config))?;
        let config_bytes = read_stored(store, config_stored)?;
        let config: ImageConfiguration = serde_json::from_slice(&config_bytes)
            .map_err(|e| files.invalid(&format!("bad image config {}: {e}", item.config)))?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != item.layers.len() {
            return Err(files.invalid(&format!(
                "config {} lists {} layers, manifest.json {}",
                item.config,
                diff_ids.len(),
                item.layers.len()
            )));
        }
        let mut layers = Vec::new();
        for (path, diff_id) in item.layers.iter().zip(diff_ids) {
            let diff_id = digest::parse(diff_id)?;
            let stored = files.resolve(Path::new(path))?;
            let (d, size, file_path) = match stored {
                Stored::Blob(d, size) => (d.clone(), *size, store.blob_path(d)?),
                Stored::Pending(i) => (i.digest.clone(), i.size, i.path().to_path_buf()),
            };
            let file = std::fs::File::open(&file_path).ctx("open", &file_path)?;
            let compression =
                unpack::detect_compression(&mut BufReader::new(file)).ctx("read", &file_path)?;
            let media_type = match compression {
                Compression::None => {
                    if d != diff_id {
                        return Err(Error::DigestMismatch {
                            what: format!("layer {path} (its diff-id)"),
                            expected: diff_id,
                            actual: d,
                        });
                    }
                    MediaType::ImageLayer
                }
                Compression::Gzip => MediaType::ImageLayerGzip,
                Compression::Zstd => MediaType::ImageLayerZstd,
            };
            layers.push((path.clone(), Descriptor::new(media_type, size, d)));
        }
        // Everything checks out: move config and layers into the store.
        let config_desc = commit(files, &item.config, MediaType::ImageConfig)?;
        let mut layer_descs = Vec::new();
        for (path, desc) in layers {
            commit(files, &path, desc.media_type().clone())?;
            layer_descs.push(desc);
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config_desc)
            .layers(layer_descs)
            .build()
            .map_err(|e| Error::Unsupported(format!("cannot build manifest: {e}")))?;
        let descriptor = store.put_manifest(&manifest)?;
        let tags = item.repo_tags.unwrap_or_default();
        if tags.is_empty() {
            store.add_untagged(&descriptor)?;
            loaded.push(Loaded {
                name: None,
                descriptor: descriptor.clone(),
            });
        }
        for tag in tags {
            let name = Reference::parse(&tag)?;
            store.tag(&name, &descriptor)?;
            loaded.push(Loaded {
                name: Some(name),
                descriptor: descriptor.clone(),
            });
        }
    }
    Ok(loaded)
}

/// Moves an archive file into the store.
fn commit(files: &mut ArchiveFiles, path: &str, media_type: MediaType) -> Result<Descriptor> {
    let (d, size) = files.commit(Path::new(path))?;
    Ok(Descriptor::new(media_type, size, d))
}

/// Writes the images as a `docker save` archive to `out`.
pub fn export_archive(store: &Store, images: &[&str], out: impl Write) -> Result<()> {
    let selected = select(store, images)?;
    let mut tar = tar::Builder::new(out);
    let mut written = HashSet::new();
    let mut items = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for s in &selected {
        let config_path = format!("{}.json", sha256_hex(s.image.id())?);
        if written.insert(config_path.clone()) {
            let file = store.open_blob(s.image.id())?;
            append_file(
                &mut tar,
                &config_path,
                s.image.manifest.config().size(),
                file,
            )?;
        }
        let mut layer_paths = Vec::new();
        for (blob, diff_id) in s.image.layers()? {
            let id = sha256_hex(&diff_id)?.to_string();
            let path = format!("{id}/layer.tar");
            if written.insert(path.clone()) {
                write_layer(store, &mut tar, &blob, &diff_id, &path)?;
            }
            layer_paths.push(path);
        }
        let repo_tags = s.name.as_ref().map(|n| vec![n.familiar()]);
        if let (Some(n), Some(top)) = (&s.name, layer_paths.last()) {
            let familiar = n.familiar();
            if let Some((repo, tag)) = familiar.rsplit_once(':') {
                let top_id = top.trim_end_matches("/layer.tar").to_string();
                repositories
                    .entry(repo.to_string())
                    .or_default()
                    .insert(tag.to_string(), top_id);
            }
        }
        items.push(Item {
            config: config_path,
            repo_tags,
            layers: layer_paths,
        });
    }
    let manifest = to_json(&items)?;
    append_file(
        &mut tar,
        "manifest.json",
        manifest.len() as u64,
        &manifest[..],
    )?;
    let repos = to_json(&repositories)?;
    append_file(&mut tar, "repositories", repos.len() as u64, &repos[..])?;
    tar.into_inner()
        .with_ctx(|| "failed to finish archive".into())?
        .flush()
        .with_ctx(|| "failed to flush archive".into())
}

/// Writes one layer uncompressed: a plain blob as it is, a compressed one through the
/// ingest area (the tar header needs the size first), checked against its diff-id.
fn write_layer(
    store: &Store,
    tar: &mut tar::Builder<impl Write>,
    blob: &Descriptor,
    diff_id: &oci_spec::image::Digest,
    path: &str,
) -> Result<()> {
    let mut reader = BufReader::new(store.open_blob(blob.digest())?);
    let compression = unpack::detect_compression(&mut reader)
        .with_ctx(|| format!("failed to read blob {}", blob.digest()))?;
    if compression == Compression::None {
        return append_file(tar, path, blob.size(), reader);
    }
    let plain = store.ingest(unpack::decompress(reader)?)?;
    if plain.digest != *diff_id {
        return Err(Error::DigestMismatch {
            what: format!("uncompressed layer {}", blob.digest()),
            expected: diff_id.clone(),
            actual: plain.digest.clone(),
        });
    }
    let file = std::fs::File::open(plain.path()).ctx("open", plain.path())?;
    append_file(tar, path, plain.size, file)
    // `plain` is dropped uncommitted: the temporary copy goes away.
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| {
        Error::io(
            "failed to serialize archive metadata",
            std::io::Error::other(e),
        )
    })
}
