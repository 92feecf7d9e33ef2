//! Push: store → registry.
//!
//! Blobs first (config and layers: `HEAD` to skip what the registry has, a
//! cross-repository mount when another repository of the registry is known to hold the
//! blob, else an upload), then manifests, children of an index before the index, the
//! top one under the tag last, so the tag never names content that is not there yet.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use oci_spec::image::{Descriptor, Digest, ImageManifest};
use reqwest::blocking::{Body, Response};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};

use super::session::Session;
use super::{
    blob_path, for_each_parallel, manifest_blobs, manifest_path, repository_scope, sources,
    BlobKind, Event, Options, ProgressFn,
};
use crate::error::{Error, Result};
use crate::layout::{self, kind_of, Kind};
use crate::reference::Reference;
use crate::store::Store;

/// What [`push`] did.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub reference: Reference,
    /// The manifest or index now under the reference.
    pub digest: Digest,
    /// Its size in bytes (the registry's `docker push` output shows it).
    pub size: u64,
    /// Bytes uploaded (blobs the registry had, or mounted, are not counted).
    pub uploaded: u64,
    /// Blobs the registry mounted from another of its repositories.
    pub mounted: usize,
}

/// Pushes the image `source` names in the store (a name, digest or ID) to `dest`.
pub fn push(
    store: &Store,
    source: &str,
    dest: &Reference,
    options: &Options,
    progress: ProgressFn,
) -> Result<Pushed> {
    let _hold = store.hold()?;
    let (_, top) = store.resolve(source)?;
    // An index goes up whole when the store has all its manifests; otherwise (other
    // platforms' manifests were never pulled) just this platform's manifest.
    let (manifests, top) = match kind_of(top.media_type()) {
        Kind::Index => {
            let bytes = store.read_blob(top.digest())?;
            let children = layout::children(Kind::Index, top.digest(), &bytes)?;
            let complete = children
                .iter()
                .all(|c| kind_of(c.media_type()) == Kind::Manifest && store.has_blob(c.digest()));
            if complete {
                (children, Some(top))
            } else {
                let (m, _) = store.platform_manifest(&top)?;
                (vec![m], None)
            }
        }
        _ => (vec![top], None),
    };
    if let Some(d) = dest.digest() {
        let pushed = top.as_ref().unwrap_or(&manifests[0]).digest();
        if d != pushed {
            return Err(Error::InvalidReference {
                input: dest.to_string(),
                reason: format!("the image to push is {pushed}, not {d}"),
            });
        }
    }

    let repo = dest.path();
    let session = Session::connect(dest.domain(), options, &[repository_scope(repo, true)])?;
    let mut seen = HashSet::new();
    let mut blobs: Vec<(Descriptor, BlobKind)> = Vec::new();
    for m in &manifests {
        let manifest: ImageManifest = store.manifest(m.digest())?;
        for (d, kind) in manifest_blobs(&manifest) {
            if !store.has_blob(d.digest()) {
                return Err(Error::BlobNotFound(d.digest().clone()));
            }
            if seen.insert(d.digest().clone()) {
                blobs.push((d, kind));
            }
        }
    }

    let uploaded = AtomicU64::new(0);
    let mounted = AtomicUsize::new(0);
    for_each_parallel(&blobs, options.parallel, &|(desc, kind)| {
        match push_blob(store, &session, repo, desc, *kind, options, progress)? {
            Outcome::Uploaded(n) => {
                uploaded.fetch_add(n, Ordering::Relaxed);
            }
            Outcome::Mounted => {
                mounted.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Existed => {}
        }
        Ok(())
    })?;

    let tag_or_digest = |d: &Descriptor| match dest.tag() {
        Some(t) => t.to_string(),
        None => d.digest().to_string(),
    };
    let last = match &top {
        Some(index) => {
            for m in &manifests {
                put_manifest(store, &session, repo, m, m.digest().as_ref(), progress)?;
            }
            index.clone()
        }
        None => manifests[0].clone(),
    };
    put_manifest(
        store,
        &session,
        repo,
        &last,
        &tag_or_digest(&last),
        progress,
    )?;

    let mut digests: Vec<Digest> = blobs.iter().map(|(d, _)| d.digest().clone()).collect();
    digests.extend(manifests.iter().map(|m| m.digest().clone()));
    sources::record(store, dest.domain(), repo, &digests)?;
    Ok(Pushed {
        reference: dest.clone(),
        digest: last.digest().clone(),
        size: last.size(),
        uploaded: uploaded.into_inner(),
        mounted: mounted.into_inner(),
    })
}

enum Outcome {
    Existed,
    Mounted,
    Uploaded(u64),
}

fn push_blob(
    store: &Store,
    session: &Session,
    repo: &str,
    desc: &Descriptor,
    kind: BlobKind,
    options: &Options,
    progress: ProgressFn,
) -> Result<Outcome> {
    let digest = desc.digest();
    let size = desc.size();
    let url = session.url(&blob_path(repo, digest))?;
    let what = format!("HEAD blob {digest}");
    let head = session.send(&what, &|c| c.head(url.clone()))?;
    match head.status() {
        s if s.is_success() => {
            progress(&Event::BlobExists {
                digest: digest.clone(),
                size,
                kind,
            });
            return Ok(Outcome::Existed);
        }
        StatusCode::NOT_FOUND => {}
        _ => return Err(session.status_error(&what, head)),
    }

    // Cross-repository mount: the registry copies the blob from a repository of its
    // own. A registry that will not mount answers 202 with an upload to use instead.
    let mut upload = None;
    for from in sources::lookup(store, &session.registry, digest, repo)
        .into_iter()
        .take(3)
    {
        session.add_scope(&repository_scope(&from, false));
        let mut url = session.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_ref())
            .append_pair("from", &from);
        let what = format!("mount blob {digest} from {from}");
        let resp = session.send(&what, &|c| c.post(url.clone()).header(CONTENT_LENGTH, 0))?;
        match resp.status() {
            StatusCode::CREATED => {
                progress(&Event::BlobMounted {
                    digest: digest.clone(),
                    size,
                    kind,
                    from: format!("{}/{from}", session.registry),
                });
                return Ok(Outcome::Mounted);
            }
            StatusCode::ACCEPTED => {
                upload = Some(session.location(&resp)?);
                break;
            }
            _ => {} // no access to `from`, or it lost the blob: try the next
        }
    }
    let upload = match upload {
        Some(u) => u,
        None => start_upload(session, repo)?,
    };

    progress(&Event::BlobStarted {
        digest: digest.clone(),
        size,
        kind,
    });
    let file = Arc::new(store.open_blob(digest)?);
    let report = |done: u64| {
        progress(&Event::BlobProgress {
            digest: digest.clone(),
            done,
            size,
        })
    };
    let mut location = upload;
    if options.chunk_size > 0 && size > options.chunk_size {
        let mut offset = 0;
        while offset < size {
            let len = options.chunk_size.min(size - offset);
            let what = format!("PATCH blob {digest} bytes {offset}-{}", offset + len - 1);
            let resp = send_slice(
                session,
                &what,
                Method::PATCH,
                &location,
                &file,
                offset,
                len,
                &|n| report(offset + n),
            )?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(session.status_error(&what, resp));
            }
            location = session.location(&resp)?;
            offset += len;
        }
        let mut url = location;
        url.query_pairs_mut().append_pair("digest", digest.as_ref());
        let what = format!("PUT blob {digest}");
        let resp = session.send(&what, &|c| c.put(url.clone()).header(CONTENT_LENGTH, 0))?;
        finish_upload(session, &what, resp, digest)?;
    } else {
        let mut url = location;
        url.query_pairs_mut().append_pair("digest", digest.as_ref());
        let what = format!("PUT blob {digest}");
        let resp = send_slice(session, &what, Method::PUT, &url, &file, 0, size, &report)?;
        finish_upload(session, &what, resp, digest)?;
    }
    progress(&Event::BlobDone {
        digest: digest.clone(),
        size,
    });
    Ok(Outcome::Uploaded(size))
}

/// `POST /v2/<repo>/blobs/uploads/` → the upload's location.
pub(super) fn start_upload(session: &Session, repo: &str) -> Result<Url> {
    let url = session.url(&format!("/v2/{repo}/blobs/uploads/"))?;
    let what = format!("start upload to {repo}");
    let resp = session.send(&what, &|c| c.post(url.clone()).header(CONTENT_LENGTH, 0))?;
    if resp.status() != StatusCode::ACCEPTED {
        return Err(session.status_error(&what, resp));
    }
    session.location(&resp)
}

/// The upload's closing answer: 201 Created, naming the same digest if it names one.
pub(super) fn finish_upload(
    session: &Session,
    what: &str,
    resp: Response,
    digest: &Digest,
) -> Result<()> {
    if resp.status() != StatusCode::CREATED {
        return Err(session.status_error(what, resp));
    }
    check_digest_header(session, what, &resp, digest)
}

fn check_digest_header(
    session: &Session,
    what: &str,
    resp: &Response,
    digest: &Digest,
) -> Result<()> {
    let announced = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok());
    match announced {
        Some(a) if a != digest.as_ref() => {
            Err(session.err(format!("{what}: registry stored {a}, expected {digest}")))
        }
        _ => Ok(()),
    }
}

/// Sends bytes `offset..offset+len` of `file` as the body of a PATCH (with its
/// `Content-Range`) or PUT, reporting bytes sent from a side thread while it streams.
#[allow(clippy::too_many_arguments)]
fn send_slice(
    session: &Session,
    what: &str,
    method: Method,
    url: &Url,
    file: &Arc<File>,
    offset: u64,
    len: u64,
    report: &(dyn Fn(u64) + Sync),
) -> Result<Response> {
    let sent = Arc::new(AtomicU64::new(0));
    let finished = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut last = 0;
            while !finished.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                let now = sent.load(Ordering::Relaxed);
                if now != last {
                    last = now;
                    report(now);
                }
            }
            report(sent.load(Ordering::Relaxed));
        });
        let result = session.send(what, &|c| {
            sent.store(0, Ordering::Relaxed);
            let body = Body::sized(
                Slice {
                    file: Arc::clone(file),
                    pos: offset,
                    end: offset + len,
                    sent: Arc::clone(&sent),
                },
                len,
            );
            let mut req = c
                .request(method.clone(), url.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, len);
            if method == Method::PATCH {
                req = req.header("Content-Range", format!("{offset}-{}", offset + len - 1));
            }
            req.body(body)
        });
        finished.store(true, Ordering::SeqCst);
        result
    })
}

/// A byte range of a blob file, read with `pread` so several may share the file.
struct Slice {
    file: Arc<File>,
    pos: u64,
    end: u64,
    sent: Arc<AtomicU64>,
}

impl Read for Slice {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "blob file shorter than its descriptor",
            ));
        }
        self.pos += n as u64;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// `PUT /v2/<repo>/manifests/<reference>` with the stored bytes (so the digest holds)
/// and the manifest's own media type.
fn put_manifest(
    store: &Store,
    session: &Session,
    repo: &str,
    desc: &Descriptor,
    reference: &str,
    progress: ProgressFn,
) -> Result<()> {
    let bytes = store.read_blob(desc.digest())?;
    put_manifest_bytes(session, repo, desc, bytes, reference)?;
    progress(&Event::ManifestPushed {
        digest: desc.digest().clone(),
        reference: reference.to_string(),
    });
    Ok(())
}

/// `PUT /v2/<repo>/manifests/<reference>` with `bytes`, the manifest `desc` describes,
/// checking the digest the registry announces.
pub(super) fn put_manifest_bytes(
    session: &Session,
    repo: &str,
    desc: &Descriptor,
    bytes: Vec<u8>,
    reference: &str,
) -> Result<()> {
    let url = session.url(&manifest_path(repo, reference))?;
    let media_type = desc.media_type().to_string();
    let what = format!("PUT manifest {repo}:{reference}");
    let resp = session.send(&what, &|c| {
        c.put(url.clone())
            .header(CONTENT_TYPE, media_type.as_str())
            .body(bytes.clone())
    })?;
    if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
        return Err(session.status_error(&what, resp));
    }
    check_digest_header(session, &what, &resp, desc.digest())
}
