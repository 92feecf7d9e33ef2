//! OCI artifacts that are not container images (Helm charts, signatures, SBOMs): a
//! manifest whose config and layers carry their own media types, pushed from memory and
//! pulled into memory, never through the image store; and a repository's tag list.
//!
//! What an artifact means is its user's business (the chart crate knows Helm's media
//! types); this module only moves verified bytes.

use std::collections::BTreeMap;

use oci_spec::image::{Descriptor, Digest, ImageManifest, MediaType};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LINK};
use reqwest::StatusCode;
use serde::Deserialize;

use super::pull::fetch_manifest;
use super::push::{finish_upload, put_manifest_bytes, start_upload};
use super::session::{read_limited, Session};
use super::{blob_path, repository_scope, Options};
use crate::digest;
use crate::error::{Error, Result};
use crate::layout::{kind_of, Kind};
use crate::reference::Reference;

/// One blob of an artifact, in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// An artifact to push: a config blob, layers, and the manifest's annotations.
#[derive(Clone, Debug, Default)]
pub struct Artifact {
    pub config: Option<Blob>,
    pub layers: Vec<Blob>,
    pub annotations: BTreeMap<String, String>,
}

/// What [`push_artifact`] put under the reference.
#[derive(Clone, Debug)]
pub struct PushedArtifact {
    pub reference: Reference,
    /// The manifest's digest and size.
    pub digest: Digest,
    pub size: u64,
}

/// An artifact as [`pull_artifact`] fetched it, every blob checked against its digest.
#[derive(Clone, Debug)]
pub struct PulledArtifact {
    /// The manifest's digest.
    pub digest: Digest,
    pub manifest: ImageManifest,
    pub config: Blob,
    pub layers: Vec<Blob>,
}

fn descriptor(blob: &Blob) -> Descriptor {
    Descriptor::new(
        MediaType::from(blob.media_type.as_str()),
        blob.bytes.len() as u64,
        digest::of_bytes(&blob.bytes),
    )
}

/// Pushes `artifact` to `dest` (its tag, or its digest): the blobs the registry lacks,
/// then the manifest.
pub fn push_artifact(
    dest: &Reference,
    artifact: &Artifact,
    options: &Options,
) -> Result<PushedArtifact> {
    let repo = dest.path();
    let session = Session::connect(dest.domain(), options, &[repository_scope(repo, true)])?;
    // An artifact without a config carries the OCI "empty" config, `{}`.
    let config = artifact.config.clone().unwrap_or_else(|| Blob {
        media_type: "application/vnd.oci.empty.v1+json".into(),
        bytes: b"{}".to_vec(),
    });
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MediaType::ImageManifest.to_string(),
        "config": descriptor(&config),
        "layers": artifact.layers.iter().map(descriptor).collect::<Vec<_>>(),
    });
    if !artifact.annotations.is_empty() {
        manifest["annotations"] = serde_json::json!(artifact.annotations);
    }
    for blob in std::iter::once(&config).chain(&artifact.layers) {
        push_blob(&session, repo, blob)?;
    }
    let bytes = serde_json::to_vec(&manifest)
        .map_err(|e| session.err(format!("encoding the manifest: {e}")))?;
    let desc = Descriptor::new(
        MediaType::ImageManifest,
        bytes.len() as u64,
        digest::of_bytes(&bytes),
    );
    let reference = match (dest.tag(), dest.digest()) {
        (Some(t), _) => t.to_string(),
        (None, Some(d)) if d == desc.digest() => d.to_string(),
        (None, Some(d)) => {
            return Err(Error::InvalidReference {
                input: dest.to_string(),
                reason: format!("the artifact's manifest is {}, not {d}", desc.digest()),
            })
        }
        (None, None) => desc.digest().to_string(),
    };
    put_manifest_bytes(&session, repo, &desc, bytes, &reference)?;
    Ok(PushedArtifact {
        reference: dest.clone(),
        digest: desc.digest().clone(),
        size: desc.size(),
    })
}

/// Uploads one in-memory blob in a single `PUT` unless the registry has it.
fn push_blob(session: &Session, repo: &str, blob: &Blob) -> Result<()> {
    let digest = digest::of_bytes(&blob.bytes);
    let url = session.url(&blob_path(repo, &digest))?;
    let what = format!("HEAD blob {digest}");
    let head = session.send(&what, &|c| c.head(url.clone()))?;
    match head.status() {
        s if s.is_success() => return Ok(()),
        StatusCode::NOT_FOUND => {}
        _ => return Err(session.status_error(&what, head)),
    }
    let mut url = start_upload(session, repo)?;
    url.query_pairs_mut().append_pair("digest", digest.as_ref());
    let what = format!("PUT blob {digest}");
    let resp = session.send(&what, &|c| {
        c.put(url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, blob.bytes.len())
            .body(blob.bytes.clone())
    })?;
    finish_upload(session, &what, resp, &digest)
}

/// Fetches the manifest `reference` names (by tag or digest) and its config and layers
/// into memory. A blob larger than `blob_limit` bytes is refused before it is fetched;
/// an index (an image for several platforms) is not an artifact.
pub fn pull_artifact(
    reference: &Reference,
    options: &Options,
    blob_limit: u64,
) -> Result<PulledArtifact> {
    let repo = reference.path();
    let session = Session::connect(
        reference.domain(),
        options,
        &[repository_scope(repo, false)],
    )?;
    let wanted = reference.manifest_reference();
    let fetched = fetch_manifest(&session, repo, &wanted, reference.digest())?;
    if kind_of(fetched.descriptor.media_type()) != Kind::Manifest {
        return Err(Error::Unsupported(format!(
            "{reference} is a {}, not a single manifest",
            fetched.descriptor.media_type()
        )));
    }
    let manifest: ImageManifest =
        serde_json::from_slice(&fetched.bytes).map_err(|e| Error::InvalidContent {
            what: "manifest",
            digest: fetched.descriptor.digest().clone(),
            reason: e.to_string(),
        })?;
    let config = fetch_blob(&session, repo, manifest.config(), blob_limit)?;
    let layers = manifest
        .layers()
        .iter()
        .map(|l| fetch_blob(&session, repo, l, blob_limit))
        .collect::<Result<Vec<_>>>()?;
    Ok(PulledArtifact {
        digest: fetched.descriptor.digest().clone(),
        manifest,
        config,
        layers,
    })
}

/// One blob into memory, checked against its descriptor's size and digest.
fn fetch_blob(session: &Session, repo: &str, desc: &Descriptor, limit: u64) -> Result<Blob> {
    let digest = desc.digest();
    digest::sha256_hex(digest)?;
    if desc.size() > limit {
        return Err(session.err(format!(
            "blob {digest} ({}) is {} bytes, more than the {limit} allowed",
            desc.media_type(),
            desc.size()
        )));
    }
    let url = session.url(&blob_path(repo, digest))?;
    let what = format!("GET blob {digest}");
    let resp = session.send(&what, &|c| c.get(url.clone()))?;
    if !resp.status().is_success() {
        return Err(session.status_error(&what, resp));
    }
    let bytes = read_limited(resp, desc.size()).map_err(|e| session.err(format!("{what}: {e}")))?;
    let actual = digest::of_bytes(&bytes);
    if &actual != digest || bytes.len() as u64 != desc.size() {
        return Err(Error::DigestMismatch {
            what: format!("blob of {repo}"),
            expected: digest.clone(),
            actual,
        });
    }
    Ok(Blob {
        media_type: desc.media_type().to_string(),
        bytes,
    })
}

/// Every tag of `repository`'s repository (its tag or digest, if any, is ignored), in
/// the registry's order, following `Link` pagination.
pub fn list_tags(repository: &Reference, options: &Options) -> Result<Vec<String>> {
    let repo = repository.path();
    let session = Session::connect(
        repository.domain(),
        options,
        &[repository_scope(repo, false)],
    )?;
    #[derive(Deserialize)]
    struct TagList {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    let mut out = Vec::new();
    let mut url = session.url(&format!("/v2/{repo}/tags/list"))?;
    // A registry pages at most a few thousand at a time; a thousand pages is a loop.
    for _ in 0..1000 {
        let what = format!("GET tags of {repo}");
        let resp = session.send(&what, &|c| c.get(url.clone()))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(session.err(format!("repository {repo} not found")));
        }
        if !resp.status().is_success() {
            return Err(session.status_error(&what, resp));
        }
        let next = resp
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| l.split_once('<'))
            .and_then(|(_, rest)| rest.split_once('>'))
            .map(|(u, _)| u.to_string());
        let body = read_limited(resp, 16 << 20).map_err(|e| session.err(format!("{what}: {e}")))?;
        let list: TagList = serde_json::from_slice(&body)
            .map_err(|e| session.err(format!("{what}: bad tag list: {e}")))?;
        out.extend(list.tags.unwrap_or_default());
        match next {
            Some(n) => {
                url = url
                    .join(&n)
                    .map_err(|e| session.err(format!("bad Link {n:?}: {e}")))?
            }
            None => return Ok(out),
        }
    }
    Err(session.err(format!("tag list of {repo} does not end")))
}
