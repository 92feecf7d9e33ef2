//! A client for the OCI distribution API: pull images from a registry into the store and
//! push them from the store to a registry.
//!
//! - [`pull`]: manifest (OCI or Docker schema 2, an index picks linux on this
//!   architecture), then config and layers, each verified against its digest and size,
//!   skipping blobs the store already has; then the name is tagged.
//! - [`push`]: each blob the registry lacks goes up (`HEAD` first), by cross-repository
//!   mount when the store knows another repository of that registry has it, else by
//!   upload (one `PUT`, or `PATCH` chunks then `PUT` for large blobs); then manifests.
//! - [`login`]: checks credentials against a registry.
//! - [`artifact`]: non-image artifacts (Helm charts and the like) pushed from and
//!   pulled into memory, and a repository's tags.
//!
//! Authentication ([`auth`]): Basic, or the Bearer token flow (`WWW-Authenticate:
//! Bearer realm=..,service=..,scope=..`), with credentials from [`Options`] or an auths
//! file (`~/.docker/config.json`, `containers/auth.json`). Loopback registries (and any
//! with [`Options::insecure`]) are tried over https without certificate checks, then
//! plain http; [`Options::plain_http`] goes straight to http.
//!
//! The calls block; progress is reported through a callback as [`Event`]s, so a CLI
//! can draw bars without this crate printing anything.

pub mod artifact;
pub mod auth;
mod pull;
mod push;
mod session;
mod sources;

use std::path::PathBuf;

use oci_spec::image::{Descriptor, Digest};

pub use artifact::{list_tags, pull_artifact, push_artifact, Artifact, Blob, PulledArtifact};
pub use auth::Credentials;
pub use pull::{pull, Pulled};
pub use push::{push, Pushed};

use crate::error::Result;

/// Media types asked for when fetching a manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// The most a manifest or index may weigh (as other clients limit it).
pub(crate) const MANIFEST_LIMIT: u64 = 4 << 20;

/// How to reach and authenticate to a registry, and how to upload.
#[derive(Clone, Debug)]
pub struct Options {
    /// Credentials; `None` looks in [`Options::auth_file`] or the default auth files.
    pub credentials: Option<Credentials>,
    /// An auths file to read credentials from instead of the default ones.
    pub auth_file: Option<PathBuf>,
    /// Plain http only (no TLS).
    pub plain_http: bool,
    /// Accept any TLS certificate, and fall back to plain http.
    pub insecure: bool,
    /// Blobs larger than this are uploaded in `PATCH` chunks of this size; smaller
    /// ones in one `PUT`. 0 uploads every blob in one `PUT`.
    pub chunk_size: u64,
    /// Blobs transferred at once.
    pub parallel: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            credentials: None,
            auth_file: None,
            plain_http: false,
            insecure: false,
            chunk_size: 16 << 20,
            parallel: 3,
        }
    }
}

/// What a blob is to the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobKind {
    Config,
    Layer,
}

/// Progress of a pull or push.
#[derive(Clone, Debug)]
pub enum Event {
    /// The reference names this manifest or index.
    Resolved { digest: Digest, media_type: String },
    /// A blob is already where it is going (in the store for a pull, in the registry
    /// for a push).
    BlobExists {
        digest: Digest,
        size: u64,
        kind: BlobKind,
    },
    /// A blob transfer starts.
    BlobStarted {
        digest: Digest,
        size: u64,
        kind: BlobKind,
    },
    /// `done` of `size` bytes transferred.
    BlobProgress {
        digest: Digest,
        done: u64,
        size: u64,
    },
    /// The registry took the blob from another repository of its own (no upload).
    BlobMounted {
        digest: Digest,
        size: u64,
        kind: BlobKind,
        from: String,
    },
    /// A blob transfer finished (and was verified, for a pull).
    BlobDone { digest: Digest, size: u64 },
    /// A manifest or index was uploaded under `reference` (a tag or its digest).
    ManifestPushed { digest: Digest, reference: String },
}

/// A progress callback; called from several threads when blobs move in parallel.
pub type ProgressFn<'a> = &'a (dyn Fn(&Event) + Sync);

/// Checks that the registry `domain` accepts `options`' credentials (as
/// `docker login` does): a Basic registry must answer `/v2/` with them, a token
/// service must hand out a token for them.
pub fn login(domain: &str, options: &Options) -> Result<()> {
    let session = session::Session::connect(domain, options, &[])?;
    let resp = session.send("GET /v2/", &|c| {
        c.get(session.url("/v2/").expect("static path"))
    })?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(session.status_error("login", resp))
    }
}

/// The scope a token needs to read (and write) a repository.
pub(crate) fn repository_scope(path: &str, push: bool) -> String {
    if push {
        format!("repository:{path}:pull,push")
    } else {
        format!("repository:{path}:pull")
    }
}

/// `digest` + the repository path in a URL.
pub(crate) fn blob_path(repo: &str, digest: &Digest) -> String {
    format!("/v2/{repo}/blobs/{digest}")
}

pub(crate) fn manifest_path(repo: &str, reference: &str) -> String {
    format!("/v2/{repo}/manifests/{reference}")
}

/// The media type of a manifest or index: its `mediaType` field, else the
/// `Content-Type` it came with, else judged by its shape.
pub(crate) fn manifest_media_type(bytes: &[u8], content_type: Option<&str>) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let shape: Option<Shape> = serde_json::from_slice(bytes).ok();
    if let Some(m) = shape.as_ref().and_then(|s| s.media_type.clone()) {
        return m;
    }
    if let Some(ct) = content_type {
        let ct = ct.split(';').next().unwrap_or("").trim();
        if !ct.is_empty() && ct != "application/json" {
            return ct.to_string();
        }
    }
    if shape.is_some_and(|s| s.manifests.is_some()) {
        oci_spec::image::MediaType::ImageIndex.to_string()
    } else {
        oci_spec::image::MediaType::ImageManifest.to_string()
    }
}

/// The config and layers of a manifest, each with its kind.
pub(crate) fn manifest_blobs(
    manifest: &oci_spec::image::ImageManifest,
) -> Vec<(Descriptor, BlobKind)> {
    std::iter::once((manifest.config().clone(), BlobKind::Config))
        .chain(
            manifest
                .layers()
                .iter()
                .map(|l| (l.clone(), BlobKind::Layer)),
        )
        .collect()
}

/// Runs `work` over `items` on up to `parallel` threads; the first error wins (work
/// not yet started is skipped after it).
pub(crate) fn for_each_parallel<T: Sync>(
    items: &[T],
    parallel: usize,
    work: &(dyn Fn(&T) -> Result<()> + Sync),
) -> Result<()> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..parallel.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                if failed.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { return };
                if let Err(e) = work(item) {
                    failed.store(true, Ordering::SeqCst);
                    first_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                    return;
                }
            });
        }
    });
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_comes_from_the_field_then_the_header_then_the_shape() {
        assert_eq!(
            manifest_media_type(
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#,
                Some("application/vnd.oci.image.manifest.v1+json")
            ),
            "application/vnd.docker.distribution.manifest.v2+json"
        );
        assert_eq!(
            manifest_media_type(
                br#"{"schemaVersion":2}"#,
                Some("application/vnd.oci.image.index.v1+json; x=y")
            ),
            "application/vnd.oci.image.index.v1+json"
        );
        assert_eq!(
            manifest_media_type(br#"{"manifests":[]}"#, Some("application/json")),
            "application/vnd.oci.image.index.v1+json"
        );
    }

    #[test]
    fn parallel_work_reports_the_first_error_and_does_all_work_otherwise() {
        let done = std::sync::atomic::AtomicUsize::new(0);
        let items: Vec<u32> = (0..20).collect();
        for_each_parallel(&items, 3, &|_| {
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        assert_eq!(done.into_inner(), 20);
        let err = for_each_parallel(&items, 3, &|i| {
            if *i == 5 {
                Err(crate::Error::Unsupported("five".into()))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains("five"));
    }
}
