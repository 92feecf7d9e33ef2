//! Pull: registry → store.
//!
//! Order matters for what a failed pull leaves behind: blobs first (each verified as it
//! streams into the store), then the manifest, then the index, then the tag. Until the
//! tag, a [`Store::hold`] keeps garbage collection off the new blobs.

use std::collections::HashSet;
use std::io::Read;

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest, MediaType};
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use super::session::{read_limited, Session};
use super::{
    blob_path, for_each_parallel, manifest_blobs, manifest_media_type, manifest_path,
    repository_scope, sources, BlobKind, Event, Options, ProgressFn, MANIFEST_ACCEPT,
    MANIFEST_LIMIT,
};
use crate::digest;
use crate::error::{Error, Result};
use crate::layout::{kind_of, Kind};
use crate::reference::Reference;
use crate::store::Store;

/// What [`pull`] stored.
#[derive(Clone, Debug)]
pub struct Pulled {
    pub reference: Reference,
    /// What the name now points at: the registry's manifest or index (its digest is
    /// the "repo digest").
    pub descriptor: Descriptor,
    /// This platform's manifest.
    pub manifest: Descriptor,
    /// The image ID (the config's digest).
    pub id: Digest,
    /// Bytes downloaded (blobs the store already had are not counted).
    pub downloaded: u64,
}

/// A manifest or index as fetched, verified against its digest.
pub(super) struct Fetched {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

/// Pulls `reference` into `store` and tags it (a reference by digest alone is kept
/// unnamed).
pub fn pull(
    store: &Store,
    reference: &Reference,
    options: &Options,
    progress: ProgressFn,
) -> Result<Pulled> {
    let _hold = store.hold()?;
    let repo = reference.path();
    let session = Session::connect(
        reference.domain(),
        options,
        &[repository_scope(repo, false)],
    )?;
    let wanted = reference.manifest_reference();
    let top = fetch_manifest(&session, repo, &wanted, reference.digest())?;
    progress(&Event::Resolved {
        digest: top.descriptor.digest().clone(),
        media_type: top.descriptor.media_type().to_string(),
    });

    let (manifest, index) = match kind_of(top.descriptor.media_type()) {
        Kind::Manifest => (top, None),
        Kind::Index => {
            let index: ImageIndex = parse(&top, "image index")?;
            let chosen = pick_platform(&index).ok_or_else(|| Error::InvalidContent {
                what: "image index",
                digest: top.descriptor.digest().clone(),
                reason: format!("no manifest for linux/{}", crate::platform_arch()),
            })?;
            if kind_of(chosen.media_type()) != Kind::Manifest {
                return Err(Error::Unsupported(format!(
                    "index {} points at {} for this platform, not an image manifest",
                    top.descriptor.digest(),
                    chosen.media_type()
                )));
            }
            let m = fetch_manifest(
                &session,
                repo,
                chosen.digest().as_ref(),
                Some(chosen.digest()),
            )?;
            (m, Some(top))
        }
        _ => {
            return Err(Error::Unsupported(format!(
                "{reference} is a {}, not an image manifest or index",
                top.descriptor.media_type()
            )))
        }
    };
    let image_manifest: ImageManifest = parse(&manifest, "manifest")?;
    let mut seen = HashSet::new();
    let blobs: Vec<(Descriptor, BlobKind)> = manifest_blobs(&image_manifest)
        .into_iter()
        .filter(|(d, _)| seen.insert(d.digest().clone()))
        .collect();
    for (d, _) in &blobs {
        digest::sha256_hex(d.digest())?;
    }

    let downloaded = std::sync::atomic::AtomicU64::new(0);
    for_each_parallel(&blobs, options.parallel, &|(desc, kind)| {
        let n = fetch_blob(store, &session, repo, desc, *kind, progress)?;
        downloaded.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    })?;

    // The config must be an image config for these layers before the image is named.
    let config = store.config(image_manifest.config().digest())?;
    if config.rootfs().diff_ids().len() != image_manifest.layers().len() {
        return Err(Error::InvalidContent {
            what: "image config",
            digest: image_manifest.config().digest().clone(),
            reason: format!(
                "{} diff_ids for {} layers",
                config.rootfs().diff_ids().len(),
                image_manifest.layers().len()
            ),
        });
    }
    store.put_blob(&manifest.bytes[..], Some(manifest.descriptor.digest()))?;
    let top = match index {
        Some(index) => {
            store.put_blob(&index.bytes[..], Some(index.descriptor.digest()))?;
            index
        }
        None => manifest.clone_descriptor_only(),
    };
    match reference.tag() {
        Some(tag) => {
            store.tag(&reference.with_tag(tag)?, &top.descriptor)?;
        }
        None => store.add_untagged(&top.descriptor)?,
    }
    let mut digests: Vec<Digest> = blobs.iter().map(|(d, _)| d.digest().clone()).collect();
    digests.push(manifest.descriptor.digest().clone());
    sources::record(store, reference.domain(), repo, &digests)?;
    Ok(Pulled {
        reference: reference.clone(),
        descriptor: top.descriptor,
        manifest: manifest.descriptor,
        id: image_manifest.config().digest().clone(),
        downloaded: downloaded.into_inner(),
    })
}

impl Fetched {
    fn clone_descriptor_only(&self) -> Fetched {
        Fetched {
            descriptor: self.descriptor.clone(),
            bytes: Vec::new(),
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(f: &Fetched, what: &'static str) -> Result<T> {
    serde_json::from_slice(&f.bytes).map_err(|e| Error::InvalidContent {
        what,
        digest: f.descriptor.digest().clone(),
        reason: e.to_string(),
    })
}

/// `GET /v2/<repo>/manifests/<reference>`, checked against `expected` (when asked by
/// digest) and against the registry's `Docker-Content-Digest`.
pub(super) fn fetch_manifest(
    session: &Session,
    repo: &str,
    reference: &str,
    expected: Option<&Digest>,
) -> Result<Fetched> {
    let url = session.url(&manifest_path(repo, reference))?;
    let what = format!("GET manifest {repo}:{reference}");
    let resp = session.send(&what, &|c| {
        c.get(url.clone()).header(ACCEPT, MANIFEST_ACCEPT)
    })?;
    if !resp.status().is_success() {
        return Err(session.status_error(&what, resp));
    }
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let announced = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| digest::parse(v).ok());
    let bytes =
        read_limited(resp, MANIFEST_LIMIT).map_err(|e| session.err(format!("{what}: {e}")))?;
    let actual = digest::of_bytes(&bytes);
    for (claimed, source) in [
        (expected, "requested"),
        (announced.as_ref(), "Docker-Content-Digest"),
    ] {
        if let Some(claimed) = claimed {
            if *claimed != actual {
                return Err(Error::DigestMismatch {
                    what: format!("manifest {repo}:{reference} ({source} digest)"),
                    expected: claimed.clone(),
                    actual,
                });
            }
        }
    }
    let media_type = manifest_media_type(&bytes, content_type.as_deref());
    if media_type.starts_with("application/vnd.docker.distribution.manifest.v1") {
        return Err(Error::Unsupported(format!(
            "{repo}:{reference} is a Docker schema 1 manifest ({media_type})"
        )));
    }
    Ok(Fetched {
        descriptor: Descriptor::new(
            MediaType::from(media_type.as_str()),
            bytes.len() as u64,
            actual,
        ),
        bytes,
    })
}

/// Downloads one blob into the store unless it is there; returns the bytes downloaded.
fn fetch_blob(
    store: &Store,
    session: &Session,
    repo: &str,
    desc: &Descriptor,
    kind: BlobKind,
    progress: ProgressFn,
) -> Result<u64> {
    let digest = desc.digest();
    let size = desc.size();
    if store.has_blob(digest) {
        progress(&Event::BlobExists {
            digest: digest.clone(),
            size,
            kind,
        });
        return Ok(0);
    }
    progress(&Event::BlobStarted {
        digest: digest.clone(),
        size,
        kind,
    });
    let url = session.url(&blob_path(repo, digest))?;
    let what = format!("GET blob {digest}");
    let resp = session.send(&what, &|c| c.get(url.clone()))?;
    if !resp.status().is_success() {
        return Err(session.status_error(&what, resp));
    }
    let mut on = |done| {
        progress(&Event::BlobProgress {
            digest: digest.clone(),
            done,
            size,
        })
    };
    // One byte more than announced is enough to tell a wrong size.
    let reader = CountingReader::new(resp.take(size + 1), &mut on);
    store.put_blob_for(reader, desc).map_err(|e| match e {
        Error::Io { context, source } => session.err(format!("{what}: {context}: {source}")),
        other => other,
    })?;
    progress(&Event::BlobDone {
        digest: digest.clone(),
        size,
    });
    Ok(size)
}

/// The manifest in `index` for linux on this machine's architecture (the only one if
/// there is just one).
fn pick_platform(index: &ImageIndex) -> Option<Descriptor> {
    let arch = crate::platform_arch();
    let manifests = index.manifests();
    manifests
        .iter()
        .find(|m| {
            m.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == arch
            })
        })
        .or(if manifests.len() == 1 {
            manifests.first()
        } else {
            None
        })
        .cloned()
}

/// Counts bytes read and reports them every 256 KiB and at the end.
pub(crate) struct CountingReader<'a, R> {
    inner: R,
    done: u64,
    last: u64,
    on: &'a mut dyn FnMut(u64),
}

impl<'a, R> CountingReader<'a, R> {
    pub fn new(inner: R, on: &'a mut dyn FnMut(u64)) -> Self {
        CountingReader {
            inner,
            done: 0,
            last: 0,
            on,
        }
    }
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if (n == 0 && self.done != self.last) || self.done - self.last >= 256 << 10 {
            self.last = self.done;
            (self.on)(self.done);
        }
        Ok(n)
    }
}
